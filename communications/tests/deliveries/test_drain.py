"""One task sends the rows of a chain it releases, without a Celery message each (issue 19, engine round 2).

Unit tests run Celery eagerly: a task that runs is a message that would have gone to the broker, so the tasks
are counted with Celery's own `task_prerun` signal."""

import pytest
from celery.signals import task_prerun
from django.db import transaction

from communications.models import Delivery, DeliveryAttempt
from communications.services import deliveries as svc

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_time_limit(settings):
    """The drain stops after DELIVERY_DRAIN_SECONDS too; these tests count rows, so a slow machine must not end the
    drain early (a run under heavy load once did)."""
    settings.DELIVERY_DRAIN_SECONDS = 60


@pytest.fixture
def tasks():
    """The delivery ids of the delivery tasks that ran, in order."""
    ran = []

    def record(sender=None, args=None, **kwargs):
        if sender is not None and sender.name == "communications.delivery_send":
            ran.append(args[0])

    task_prerun.connect(record, weak=False)
    yield ran
    task_prerun.disconnect(record)


def chain_of_three(tenant_configuration) -> list[int]:
    with transaction.atomic():  # committed together: each row's own message goes out after the commit
        return [svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint=endpoint,
                                     payload={"n": n}, ordering_key="chat-1").pk
                for n, endpoint in enumerate(("sendMessage", "updateMessageContent", "updateMessageStatus"))]


def test_the_first_task_sends_the_rows_it_releases_in_chain_order(fast_retries, tenant_configuration, fake_provider,
                                                                   tasks):
    ids = chain_of_three(tenant_configuration)
    # then: the first row's task sent all three, in order, each once; the other rows' own messages found them final
    assert [r.json["n"] for r in fake_provider.requests] == [0, 1, 2]
    assert tasks == ids  # three messages for three rows (was five: each release published one more)
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert DeliveryAttempt.objects.filter(delivery_id__in=ids).count() == 3


def test_past_its_limit_a_task_publishes_what_it_released(settings, fast_retries, tenant_configuration,
                                                          fake_provider, tasks):
    settings.DELIVERY_DRAIN_MAX = 1  # the first row only
    ids = chain_of_three(tenant_configuration)
    assert [r.json["n"] for r in fake_provider.requests] == [0, 1, 2]
    # each release went out as a message of its own (run at once, eagerly, inside the task that released it)
    assert tasks == [ids[0], ids[1], ids[2], ids[1], ids[2]]
    assert DeliveryAttempt.objects.filter(delivery_id__in=ids).count() == 3


def test_a_refused_row_releases_its_chain_to_the_same_task(fast_retries, tenant_configuration, fake_provider,
                                                           tasks):
    fake_provider.fail_next(1, status=404, body={"error": "no such chat"})  # refused: releases the chain
    ids = chain_of_three(tenant_configuration)
    statuses = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses[ids[0]] == Delivery.Status.REFUSED
    # a refused sendMessage cancels nothing here (no message rows), so the rest still go, in order
    assert [r.json["n"] for r in fake_provider.requests] == [0, 1, 2]
    assert tasks == ids
