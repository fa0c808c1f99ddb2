"""The fake Telegram/VK servers speak enough protocol for the real libraries (also used by the bots)."""

import threading
import time

import jconfig
from telebot import TeleBot, apihelper
from vk_api import VkApi
from vk_api.bot_longpoll import VkBotLongPoll

from notifications.clients import _RebasedSession


def test_fake_telegram_serves_get_updates_to_pytelegrambotapi(fakes):
    tg = fakes["telegram"]
    apihelper.API_URL = tg.api_url
    try:
        bot = TeleBot("1:T", threaded=False)
        tg.push_update({"message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"},
                                    "from": {"id": 42, "is_bot": False, "first_name": "A"}, "text": "/start abc"}})
        [update] = bot.get_updates(offset=0, timeout=1)
        assert update.message.text == "/start abc"
        # confirmed by a higher offset, and a long poll returns empty after a bounded wait
        started = time.monotonic()
        assert bot.get_updates(offset=update.update_id + 1, timeout=5) == []
        assert time.monotonic() - started < 3
        # any other method is recorded
        bot.answer_callback_query("cb-1", text="ok")
        assert tg.calls("answerCallbackQuery")[0].params["callback_query_id"] == "cb-1"
    finally:
        apihelper.API_URL = None


def test_fake_telegram_long_poll_wakes_up_on_a_new_update(fakes):
    tg = fakes["telegram"]
    apihelper.API_URL = tg.api_url
    try:
        bot = TeleBot("1:T", threaded=False)
        threading.Timer(0.2, tg.push_update, args=[{"message": {
            "message_id": 2, "date": 0, "chat": {"id": 1, "type": "private"},
            "from": {"id": 1, "is_bot": False, "first_name": "B"}, "text": "hi"}}]).start()
        assert [u.message.text for u in bot.get_updates(timeout=1)] == ["hi"]
    finally:
        apihelper.API_URL = None


def test_fake_vk_serves_bots_long_poll_to_vk_api(fakes):
    vk = fakes["vk"]
    session = VkApi(token="t", api_version="5.199", config=jconfig.MemoryConfig,
                    session=_RebasedSession(vk.url, timeout=5))
    longpoll = VkBotLongPoll(session, group_id=1, wait=1)
    vk.push_event({"type": "message_new", "group_id": 1,
                   "object": {"message": {"from_id": 7, "peer_id": 7, "text": "start x", "ref": "tok"}}})
    [event] = longpoll.check()
    assert event.type.value == "message_new" and event.object.message["ref"] == "tok"
    assert longpoll.check() == []
    assert vk.calls("groups.getLongPollServer")[0].params["group_id"] == "1"
