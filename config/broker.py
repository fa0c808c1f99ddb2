"""Fail-fast publishing for dispatch after commit.

kombu's defaults retry a dead broker for seconds before giving up; a request that has already
committed must not wait for that. `publish_fail_fast` makes one ~1 s connection attempt and
raises; callers (the communications outbox, async notifications) log and leave the row to
their periodic sweeper.

Built once per process and reused per pooled connection: the connection's channel, a kombu producer and the
channel's redis-py client (kombu's Redis channel builds a client, about 1 ms of CPU, for every message).
"""

import os
from contextlib import contextmanager

import redis
from kombu.transport import redis as kombu_redis

_pool = None  # (pid, kombu connection pool, producers by connection id); rebuilt after fork and after a failure


class _Channel(kombu_redis.Channel):
    """kombu's Redis channel, keeping one redis-py client on its pool instead of one per command."""

    _publish_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        try:
            pool = self.pool  # a new pool after `_disconnect_pools` (close, fork): a new client on it
        except AttributeError as exc:
            # kombu closing this channel after its transport was closed (restoring unacked messages after the broker
            # went away): no connection info to build a pool from. A connection error, which kombu's close ignores,
            # not an AttributeError, which stops the worker ("Unrecoverable error").
            raise redis.exceptions.ConnectionError("the broker connection is closed") from exc
        if self._publish_client is None or self._publish_client.connection_pool is not pool:
            self._publish_client = self._create_client()
        yield self._publish_client


class _Transport(kombu_redis.Transport):
    Channel = _Channel


def _connections():
    global _pool
    from config.celery import app

    if _pool is None or _pool[0] != os.getpid():
        options = {"connect_timeout": 1,
                   "transport_options": {"max_retries": 0, "socket_connect_timeout": 1, "socket_timeout": 3}}
        connection = app.connection_for_write(**options)
        if type(connection.transport) is kombu_redis.Transport:
            connection = app.connection_for_write(transport=_Transport, **options)
        _pool = (os.getpid(), connection.Pool(limit=app.conf.broker_pool_limit or 10), {})
    return _pool


def publish_fail_fast(task, **options) -> None:
    """`task.apply_async(**options)` through a fail-fast connection; raises on a broker error."""
    global _pool
    try:
        _, connections, producers = _connections()
        with connections.acquire(block=True, timeout=5) as connection:
            producer = producers.get(id(connection))
            if producer is None or producer.connection is not connection:
                producer = producers[id(connection)] = task.app.amqp.Producer(connection, auto_declare=False)
            task.apply_async(producer=producer, retry=False, **options)
    except Exception:
        pool, _pool = _pool, None
        if pool is not None:
            pool[1].force_close_all()
        raise
