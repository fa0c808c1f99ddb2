"""The feed (delivery/feed.py): rows due now go to a few drainer tasks through a Redis list, not a Celery
message each; nothing is lost between a push and a drainer's exit, and a dead drainer's slot comes back."""

import base64
import json
import uuid

import pytest
from celery.signals import task_prerun
from django.db import transaction

from communications.models import Delivery
from communications.services import deliveries as svc
from communications.tests.factories import all_final
from config.testing.processes import wait_until
from delivery import feed

pytestmark = [pytest.mark.integration]


@pytest.fixture
def tasks():
    """Names of the Celery tasks that ran in this process's worker."""
    ran = []

    def record(sender=None, **kwargs):
        ran.append(sender.name)

    task_prerun.connect(record, weak=False)
    yield ran
    task_prerun.disconnect(record)


@pytest.fixture
def queue(settings):
    """DELIVERY_QUEUE is a queue no worker consumes: the rows pushed and the drainer messages they start stay
    there to be read. One drainer at most, unless a test says otherwise."""
    settings.DELIVERY_QUEUE = name = f"feed-test-{uuid.uuid4().hex[:8]}"
    settings.DELIVERY_FEED_DRAINERS = 1
    yield name
    client = feed._redis()[0]
    client.delete(name, *feed.keys(name), *client.keys(feed.taken_key(name, "*")))


def message_args(queue: str) -> list[list]:
    """The args of the tasks published to `queue` (Celery's Redis list, oldest first): drainers, unless the feed is off."""
    return [json.loads(base64.b64decode(json.loads(message)["body"]))[0]
            for message in reversed(feed._redis()[0].lrange(queue, 0, -1))]


def waiting(queue: str) -> list[str]:
    return [item.decode() for item in reversed(feed._redis()[0].lrange(feed.keys(queue)[0], 0, -1))]


def drainers(queue: str) -> list[str]:
    return [token.decode() for token in feed._redis()[0].zrange(feed.keys(queue)[1], 0, -1)]


def enqueue(tenant_configuration, count: int, first: int = 0) -> list[int]:
    """`count` calls about as many chats (numbered from `first`), each committed (and so pushed) on its own."""
    ids = []
    for n in range(first, first + count):
        with transaction.atomic():
            ids.append(svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="sendMessage",
                                            payload={"n": n}, ordering_key=f"chat-{n}").pk)
    return ids


def test_rows_due_now_reach_the_worker_without_a_message_each(transactional_db, celery_worker, fast_retries,
                                                               tenant_configuration, fake_provider, tasks):
    fast_retries.DELIVERY_FEED_SECONDS = 60  # no successor during the test
    # when: twenty calls about twenty chats, each committed on its own
    ids = enqueue(tenant_configuration, 20)
    wait_until(lambda: all_final(ids), timeout=60)
    # then: each was delivered once, by drainers, without a delivery message of its own
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert sorted(r.json["n"] for r in fake_provider.requests) == list(range(20))
    assert "communications.delivery_send" not in tasks
    assert 1 <= tasks.count("communications.delivery_feed_drain") <= fast_retries.DELIVERY_FEED_DRAINERS
    # and the drainers leave once the list stays empty, giving their slots back
    wait_until(lambda: not drainers(fast_retries.DELIVERY_QUEUE), timeout=10)
    assert waiting(fast_retries.DELIVERY_QUEUE) == []


def test_a_push_starts_a_drainer_when_none_runs_or_the_list_outgrows_them(settings, queue):
    settings.DELIVERY_FEED_DRAINERS = 2
    # when: four rows are pushed and no drainer takes any
    started = [feed.push(n, "provider", queue) for n in range(1, 5)]
    # then: the first push started one; the second found two rows for one drainer and started another; then the limit
    assert started == [True, True, False, False]
    assert waiting(queue) == ["1:provider", "2:provider", "3:provider", "4:provider"]
    assert sorted(args[1] for args in message_args(queue)) == sorted(drainers(queue))
    assert [args[0] for args in message_args(queue)] == [queue, queue]


def test_a_push_starts_a_drainer_when_the_drainers_there_are_busy(settings, queue):
    settings.DELIVERY_FEED_DRAINERS = 3
    client = feed._redis()[0]
    assert feed.push(1, "provider", queue)
    (first,) = drainers(queue)
    # when: the drainer takes the row (as its BLMOVE does) and is busy with it, e.g. a slow call
    client.lmove(feed.keys(queue)[0], feed.taken_key(queue, first), "RIGHT", "LEFT")
    # then: the next row starts a second drainer, although the list is no longer than the drainers
    assert feed.push(2, "provider", queue)
    # and: once the first is done and waits again, two idle drainers are enough for two waiting rows
    client.delete(feed.taken_key(queue, first))
    assert not feed.push(3, "provider", queue)
    assert len(drainers(queue)) == 2


def test_a_row_never_waits_behind_drainers_busy_with_slow_calls(transactional_db, celery_worker, fast_retries,
                                                                 tenant_configuration, fake_provider, settings):
    fast_retries.DELIVERY_FEED_SECONDS = 60  # no successor during the test
    client = feed._redis()[0]
    client.delete(*feed.keys(settings.DELIVERY_QUEUE))  # no token left by an earlier test holds a slot
    # given: two calls the provider answers only after 5 s, both in flight
    fake_provider.stall_next(5, count=2)
    slow = enqueue(tenant_configuration, 2)
    wait_until(lambda: Delivery.objects.filter(pk__in=slow, status=Delivery.Status.IN_PROGRESS).count() == 2)
    # when: a call about another chat is queued
    (fast,) = enqueue(tenant_configuration, 1, first=2)
    # then: it is delivered while both slow calls are still waiting for their answers
    wait_until(lambda: Delivery.objects.get(pk=fast).status == Delivery.Status.DELIVERED, timeout=30)
    assert set(Delivery.objects.filter(pk__in=slow).values_list("status", flat=True)) == {Delivery.Status.IN_PROGRESS}
    wait_until(lambda: all_final(slow), timeout=30)


def test_a_dead_drainers_slot_is_free_again_after_its_ttl(settings, queue):
    settings.DELIVERY_FEED_TOKEN_TTL = 0  # its token expires at once: as if it died and never refreshed it
    assert feed.push(1, "provider", queue)
    # when: the next push finds only an expired token
    settings.DELIVERY_FEED_TOKEN_TTL = 300
    # then: it starts a drainer in the dead one's place
    assert feed.push(2, "provider", queue)
    assert len(drainers(queue)) == 1 and len(message_args(queue)) == 2
    # while a live one holds the only slot, a backlog does not start more
    assert not feed.push(3, "provider", queue)


def test_a_drainer_attempts_the_rows_in_push_order_and_leaves_when_the_list_stays_empty(
        transactional_db, fast_retries, tenant_configuration, fake_provider, queue):
    fast_retries.DELIVERY_FEED_LINGER = 0.2
    ids = enqueue(tenant_configuration, 3)
    assert waiting(queue) == [f"{pk}:provider" for pk in ids]
    (_, token), = message_args(queue)
    # when: the drainer runs (here, in the test's thread)
    taken = feed.drain(queue, token)
    # then: it took the three rows, oldest first, and left with an empty list and its slot given back
    assert taken == 3
    assert [r.json["n"] for r in fake_provider.requests] == [0, 1, 2]
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert waiting(queue) == [] and drainers(queue) == []
    # and a push after it left starts a new drainer: no row waits for one that is gone
    assert feed.push(ids[0], "provider", queue)


def test_a_drainer_that_lingered_stays_while_a_row_arrived_before_its_exit(queue):
    # given: a drainer whose wait for a row timed out, and a row pushed just then
    feed.push(1, "provider", queue)
    (token,) = drainers(queue)
    # when: it asks to leave (the same script the drainer runs when its linger ends)
    stayed = feed._run("leave", queue, feed._expiry(), token, 1, "") == 0
    # then: the list is not empty, so it stays and keeps its slot; a later push starts no second drainer
    assert stayed and drainers(queue) == [token]
    assert not feed.push(2, "provider", queue)
    # and once the list is empty it leaves, so the next push starts a drainer
    feed._redis()[0].delete(feed.keys(queue)[0])
    assert feed._run("leave", queue, feed._expiry(), token, 1, "") == 1 and drainers(queue) == []
    assert feed.push(3, "provider", queue)


def test_at_the_end_of_its_lifetime_a_drainer_hands_over_to_a_successor(transactional_db, fast_retries,
                                                                        tenant_configuration, fake_provider, queue):
    fast_retries.DELIVERY_FEED_SECONDS = 0  # one row, then its lifetime is over
    ids = enqueue(tenant_configuration, 2)
    tokens = [args[1] for args in message_args(queue)]
    # when
    taken = feed.drain(queue, tokens[0])
    # then: it took one row, gave its slot up, and published a successor for the row that waits
    assert taken == 1 and waiting(queue) == [f"{ids[1]}:provider"]
    successors = [args[1] for args in message_args(queue)][len(tokens):]
    assert len(successors) == 1 and successors[0] in drainers(queue) and tokens[0] not in drainers(queue)


def test_after_redis_forgets_its_scripts_a_push_loads_them_again(queue):
    feed._redis()[0].script_flush()  # as after a Redis restart
    assert feed.push(1, "provider", queue)
    assert waiting(queue) == ["1:provider"] and len(drainers(queue)) == 1


def test_with_the_feed_switched_off_a_row_is_a_celery_message_of_its_own(transactional_db, settings, queue,
                                                                         tenant_configuration):
    settings.DELIVERY_FEED = False
    (pk,) = enqueue(tenant_configuration, 1)
    tasks = [json.loads(raw)["headers"]["task"] for raw in feed._redis()[0].lrange(queue, 0, -1)]
    assert waiting(queue) == [] and drainers(queue) == []
    assert tasks == ["communications.delivery_send"] and message_args(queue) == [[pk, "provider"]]
