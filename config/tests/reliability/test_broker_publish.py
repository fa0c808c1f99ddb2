"""The fail-fast publish (config/broker.py through delivery/dispatch.py) on the real broker: what it builds
once per process is reused, and every message still carries its queue, time limits and request id."""

import base64
import json

import pytest

from config import broker
from config.celery import app, ping
from config.observability.request_id import request_id_scope
from delivery.dispatch import dispatch

pytestmark = pytest.mark.integration  # the real broker, not eager mode

QUEUE = "broker-publish-test-never-consumed"


@pytest.fixture
def queue():
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete(QUEUE)
        yield client
        client.delete(QUEUE)


def _channel():
    with broker._connections()[1].acquire(block=True, timeout=5) as connection:
        return connection.default_channel


def test_messages_keep_queue_time_limits_and_request_id_over_one_client(queue):
    # when: three messages go out while a request runs
    clients = []
    with request_id_scope("a" * 32):
        for n in range(3):
            assert dispatch(ping, args=[f"v{n}"], queue=QUEUE, countdown=2, time_limits=(5, 10)) is True
            clients.append(_channel()._publish_client)
    # then: each is in its queue with the task, its arguments, the time limits and the request id
    messages = [json.loads(raw) for raw in reversed(queue.lrange(QUEUE, 0, -1))]
    assert len(messages) == 3
    for n, message in enumerate(messages):
        headers = message["headers"]
        assert headers["task"] == "config.ping"
        assert headers["timelimit"] == [10, 5]
        assert headers["request_id"] == "a" * 32
        assert (headers["argsrepr"], headers["kwargsrepr"]) == (f"['v{n}']", "{}")
        assert headers["eta"] is not None
        assert message["properties"]["delivery_info"]["routing_key"] == QUEUE
        assert json.loads(base64.b64decode(message["body"]))[0] == [f"v{n}"]
    # and one redis-py client of the channel carried them all (kombu alone builds one per message)
    assert clients[0] is not None and all(client is clients[0] for client in clients)


def test_a_closed_broker_fails_fast_to_the_caller_and_the_next_publish_reconnects(queue, settings):
    # given: the broker's address is a closed port, so the pooled connection fails
    good = app.conf.broker_write_url
    failed = []
    app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    broker._pool = None  # built for the good address by an earlier test; this test starts a new one
    try:
        assert dispatch(ping, args=["lost"], queue=QUEUE, on_failure=lambda: failed.append(1)) is False
    finally:
        app.conf.broker_write_url = good
    # then: the caller was told (the sweeper takes over), and the next publish builds a working connection
    assert failed == [1]
    assert dispatch(ping, args=["after"], queue=QUEUE) is True
    assert queue.llen(QUEUE) == 1
