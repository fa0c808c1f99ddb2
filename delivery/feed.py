"""The feed: fresh rows reach the workers through a Redis list, not a Celery message each (issue 19).

A row due now (written, released by its chain, handed back by a drain) is pushed as "id:kind" to the list of
its Celery queue. A few long-lived drainer tasks pop the list and attempt each row as `delivery_send_task`
would (`engine.delivery_drain`). One Lua script pushes and decides whether a drainer must start, so a push
costs one Redis round trip and, most of the time, no Celery message:

    push:  LPUSH the row; drop expired drainer tokens; start a drainer (a new token, one Celery message) when
           the list is longer than the number of idle drainers (so when none runs, and when the ones there are
           busy with slow calls), up to DELIVERY_FEED_DRAINERS
    take:  BLMOVE the row into the drainer's own `taken` list (busy until it empties it, in the same round trip
           as the next BLMOVE), waiting up to DELIVERY_FEED_LINGER seconds (the drainer's token is refreshed when
           it starts and every third of DELIVERY_FEED_TOKEN_TTL, not per row)
    leave: only when the list is empty (one script: no push can fall between the check and the exit), or
           after DELIVERY_FEED_SECONDS (then a new drainer is started if the list is not empty)

Nothing is lost that the database still holds: an id popped by a drainer that dies is a pending row, which the
sweeper re-dispatches after DELIVERY_SWEEP_GRACE, as after a lost Celery message; a token of a dead drainer
expires after DELIVERY_FEED_TOKEN_TTL. A Redis error on push falls back to a Celery message (and, if the broker
is down too, to the sweeper). The sweeper, retries with a countdown and kinds with time limits of their own keep
a Celery message each. Used only when the broker is Redis and Celery is not eager (docs/delivery-engine.md).
"""

import hashlib
import logging
import os
import time

import redis
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

# A drainer moves the item it takes into a list of its own (`taken`, BLMOVE: atomic with the pop) and empties it when
# the row is done, so a push sees which drainers are busy. It starts a drainer (ARGV[5], a new token) when more rows
# wait than drainers are idle, up to ARGV[4] drainers: a row never waits behind a drainer held by a slow call while
# another worker process could take it. Expired tokens (ARGV[2]: now) go with their `taken` lists.
_PUSH = """
redis.call('LPUSH', KEYS[1], ARGV[1])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  redis.call('DEL', KEYS[1] .. ':taken:' .. gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local drainers = redis.call('ZRANGE', KEYS[2], 0, -1)
local idle = 0
for _, token in ipairs(drainers) do
  if redis.call('EXISTS', KEYS[1] .. ':taken:' .. token) == 0 then
    idle = idle + 1
  end
end
if #drainers < tonumber(ARGV[4]) and redis.call('LLEN', KEYS[1]) > idle then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
  return 1
end
return 0
"""
# ARGV[3] = 1: stay if the list is not empty (the linger ended); 0: leave anyway (lifetime over), and start a
# successor (ARGV[4], a new token) if the list is not empty.
_LEAVE = """
local waiting = redis.call('LLEN', KEYS[1])
if ARGV[3] == '1' and waiting > 0 then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1] .. ':taken:' .. ARGV[2])
if waiting > 0 then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
  return 2
end
return 1
"""

_client = None  # (pid, url, redis client, {script name: sha1})
_SCRIPTS = {"push": _PUSH, "leave": _LEAVE}


def enabled(queue: str) -> bool:
    """Whether rows of this Celery queue go through the feed: a Redis broker, Celery not eager, the switch on."""
    from config.celery import app

    if not settings.DELIVERY_FEED or app.conf.task_always_eager:
        return False
    return str(app.conf.broker_url or "").startswith(("redis://", "rediss://"))


def _redis():
    global _client
    from config.celery import app

    url = app.conf.broker_url
    if _client is None or _client[0] != os.getpid() or _client[1] != url:
        client = redis.Redis.from_url(url, socket_connect_timeout=1,
                                      socket_timeout=settings.DELIVERY_FEED_LINGER + 5)
        _client = (os.getpid(), url, client, {name: hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis's script id)
                                              for name, source in _SCRIPTS.items()})
    return _client[2], _client[3]


def _run(name: str, queue: str, *args):
    """EVALSHA of a script (loaded on first use; redis-py's Script object costs more than the call)."""
    client, shas = _redis()
    try:
        return client.evalsha(shas[name], 2, *keys(queue), *args)
    except redis.exceptions.NoScriptError:
        client.script_load(_SCRIPTS[name])
        return client.evalsha(shas[name], 2, *keys(queue), *args)


def keys(queue: str) -> list[str]:
    """The list of waiting rows and the sorted set of drainer tokens (score: expiry, ms) of a queue."""
    return [f"delivery-feed:{queue}", f"delivery-feed:{queue}:drainers"]


def taken_key(queue: str, token: str) -> str:
    """The list that holds the row a drainer is attempting (empty while it waits for one): the scripts' rule."""
    return f"{keys(queue)[0]}:taken:{token}"


def _expiry() -> int:
    return int((time.time() + settings.DELIVERY_FEED_TOKEN_TTL) * 1000)


def _token() -> str:
    return os.urandom(8).hex()


def push(delivery_id: int, kind: str, queue: str) -> bool:
    """Hand the row to the drainers of `queue`, starting one if needed. Raises on a Redis error (the caller
    publishes a Celery message instead). Returns whether a drainer was started."""
    token = _token()
    started = _run("push", queue, f"{delivery_id}:{kind}", int(time.time() * 1000), _expiry(),
                   max(settings.DELIVERY_FEED_DRAINERS, 1), token)
    if started:
        _start(queue, token)
    return bool(started)


def _start(queue: str, token: str) -> None:
    """Publish the drainer task for `token`. If that fails the token is dropped, so the next push starts one;
    what waits in the list meanwhile is the sweeper's after DELIVERY_SWEEP_GRACE."""
    from communications.tasks import delivery_feed_drain_task, delivery_send_task
    from delivery.dispatch import dispatch

    lifetime = settings.DELIVERY_FEED_SECONDS + settings.DELIVERY_FEED_LINGER  # plus one attempt's own limits
    limits = (lifetime + delivery_send_task.soft_time_limit, lifetime + delivery_send_task.time_limit)
    if not dispatch(delivery_feed_drain_task, args=[queue, token], queue=queue, label=f"feed drainer {queue}",
                    time_limits=limits):
        try:
            _redis()[0].zrem(keys(queue)[1], token)
        except redis.RedisError:
            logger.warning("feed %s: could not drop the token of an unpublished drainer", queue, exc_info=True)


def drain(queue: str, token: str) -> int:
    """The drainer: attempt the rows of the list one after another until it stays empty for
    DELIVERY_FEED_LINGER seconds or DELIVERY_FEED_SECONDS have passed. Returns how many rows it took."""
    from delivery.engine import delivery_drain

    client, _ = _redis()
    waiting, drainers = keys(queue)
    holding = taken_key(queue, token)
    started, refreshed, taken = time.monotonic(), None, 0
    take = client.pipeline(transaction=False)  # one round trip: the row before is done, wait for the next
    try:
        while True:
            # at the start (a drainer that waited long for a worker counts again), then every third of its TTL
            if refreshed is None or time.monotonic() - refreshed > settings.DELIVERY_FEED_TOKEN_TTL / 3:
                client.zadd(drainers, {token: _expiry()})
                refreshed = time.monotonic()
            take.delete(holding)
            take.blmove(waiting, holding, settings.DELIVERY_FEED_LINGER, src="RIGHT", dest="LEFT")
            popped = take.execute()[1]
            if popped is None:
                if _run("leave", queue, _expiry(), token, 1, "") == 1:
                    return taken
                continue
            taken += 1
            delivery_id, _, kind = popped.decode().partition(":")
            try:
                delivery_drain(delivery_id=int(delivery_id), kind=kind)
            except Exception:  # the row stays pending or leased: the sweeper takes it
                logger.exception("feed %s: delivery %s failed", queue, delivery_id)
                close_old_connections()
            if time.monotonic() - started >= settings.DELIVERY_FEED_SECONDS:
                successor = _token()
                if _run("leave", queue, _expiry(), token, 0, successor) == 2:
                    _start(queue, successor)
                return taken
    except redis.RedisError:
        logger.warning("feed %s: Redis failed; the drainer stops (the sweeper covers what waits)", queue,
                       exc_info=True)
        return taken
