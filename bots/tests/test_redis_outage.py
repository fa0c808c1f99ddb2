"""The polling bot keeps its dialogue going while Redis (the cache) is down, and its loop
touches the heartbeat file the compose healthcheck reads."""

from bots.tests.builders import run_bot, texts, tg_message
from config.observability.heartbeat import heartbeat_age
from config.tests.reliability.servers import PrivateRedis


def test_the_polling_bot_answers_while_redis_is_down(tg, token, tmp_path, settings, monkeypatch):
    # given: the cache is a private Redis that has just stopped
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    server.stop()
    monkeypatch.setenv("HEARTBEAT_DIR", str(tmp_path))
    tg.push_update(tg_message(80, f"/start {token()}"))
    # when
    output = run_bot()
    # then: the user got the confirmation question, and the loop reported itself alive
    assert "обработано обновлений: 1" in output
    assert len(texts(tg)) == 1
    assert heartbeat_age("telegram-bot") < 60
