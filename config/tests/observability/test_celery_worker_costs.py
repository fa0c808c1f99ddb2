"""The worker's per-message costs cut in issue 19 (config/celery.py, celery_signals.py): the broker channel keeps
one redis-py client for its unacked index and acks, and only beat-scheduled tasks record a sweeper success."""

import time

import pytest
import redis
from celery import signals
from kombu import Queue
from kombu import common as kombu_common

from config.broker import _Channel
from config.celery import app, ping
from config.observability import beat


@pytest.mark.integration
def test_the_worker_connection_keeps_one_client_and_acks_clear_the_unacked_index():
    queue = Queue(f"test-kept-client-{time.monotonic_ns()}")
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        assert isinstance(channel, _Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        producer = connection.Producer(channel)
        producer.publish({"n": 1}, routing_key=queue.name, declare=[queue], serializer="json")
        message = queue(channel).get(no_ack=False)
        assert message.payload == {"n": 1}
        assert first.hexists(channel.unacked_key, message.delivery_tag)  # late ack: held until acked
        message.ack()
        assert not first.hexists(channel.unacked_key, message.delivery_tag)
        queue(channel).delete()


@pytest.mark.integration
def test_closing_a_channel_whose_transport_is_gone_is_a_connection_error_that_kombu_ignores():
    # given: a worker's channel with an unacked message, whose transport was closed after the broker went away (kombu
    # then restores unacked messages while closing the channel, and has no connection info left to do it with)
    queue = Queue(f"test-closed-transport-{time.monotonic_ns()}")
    connection = app.connection_for_read()
    channel = connection.default_channel
    connection.Producer(channel).publish({"n": 1}, routing_key=queue.name, declare=[queue], serializer="json")
    assert queue(channel).get(no_ack=False) is not None
    channel._disconnect_pools()
    transport = connection.transport
    transport.client = None
    try:
        # when: the channel is closed, as the consumer does after a lost connection
        with pytest.raises(redis.exceptions.ConnectionError):
            channel.close()
        # then: a connection error, which kombu's `ignore_errors` swallows, so the worker reconnects instead of stopping
        assert kombu_common.ignore_errors(transport, channel.close) is None
    finally:
        with app.connection_for_write() as cleanup:
            Queue(queue.name)(cleanup.default_channel).delete()


@pytest.mark.django_db
def test_only_tasks_of_the_beat_schedule_record_a_success(settings, shared_cache):
    def last(name):
        return {s.task: s.last_success for s in beat.sweeper_states()}.get(name)

    settings.CELERY_BEAT_SCHEDULE = {"s": {"task": "communications.deliveries_sweep", "schedule": 30.0}}
    signals.task_success.send(sender=ping, result="pong")
    assert last("config.ping") is None
    # a new schedule (settings replaced) is read again
    settings.CELERY_BEAT_SCHEDULE = {"p": {"task": "config.ping", "schedule": 30.0}}
    before = time.time()
    signals.task_success.send(sender=ping, result="pong")
    assert last("config.ping") >= before
