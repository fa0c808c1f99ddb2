"""The claim (delivery/engine.py): a due row is claimed by one `UPDATE … RETURNING` (issue 19); everything else
(held by another worker, not due, blocked chain, the kind's gate, a live or lost lease) is decided by the
general claim, as before."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications.models import Delivery, TenantConfiguration
from communications.services import deliveries as svc
from config.testing.concurrency import another_transaction, holding
from config.testing.kinds import kind_registered
from delivery import engine
from delivery.kinds import kind_get

pytestmark = pytest.mark.django_db


def enqueue(tc, endpoint="sendMessage", ordering_key="", **payload):
    return svc.delivery_enqueue(tenant_configuration=tc, endpoint=endpoint, payload=payload or {"text": "hi"},
                                ordering_key=ordering_key)


@pytest.mark.postgres
def test_a_due_row_is_claimed_in_one_statement_with_its_lease(fast_retries, tenant_configuration):
    delivery = enqueue(tenant_configuration, ordering_key="chat-1")
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        claimed, number, started_at = engine._claim(delivery.pk, "provider")
    assert len(queries) == 1 and queries[0]["sql"].startswith("WITH claimed AS (")
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.attempts, number) == (Delivery.Status.IN_PROGRESS, 1, 1)
    assert row.lease_expires_at == claimed.lease_expires_at
    assert row.lease_expires_at - started_at == timedelta(seconds=kind_get("provider").lease_seconds(row))
    assert before <= started_at <= row.updated_at
    # the instance the attempt uses: the row as stored, with what the request needs
    assert (claimed.status, claimed.attempts) == (row.status, row.attempts)
    assert claimed.tenant_configuration == tenant_configuration and claimed.configuration.pk
    assert claimed.provider == tenant_configuration.provider and claimed.chain_blocked is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_another_worker_holds_is_not_waited_for(fast_retries, tenant_configuration, fake_provider):
    with transaction.atomic():
        delivery = enqueue(tenant_configuration)
        connection.run_on_commit = []  # committed, not dispatched: only this test's calls send it
    with holding(lambda: Delivery.objects.select_for_update().get(pk=delivery.pk)):  # another worker, mid-claim
        assert engine.delivery_send(delivery_id=delivery.pk, kind="provider") == "locked"
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.status, row.attempts) == (Delivery.Status.PENDING, 0) and fake_provider.requests == []


def test_rows_that_are_not_simply_due_take_the_general_claim(fast_retries, tenant_configuration, fake_provider):
    first = enqueue(tenant_configuration, ordering_key="chat-1", n=1)
    second = enqueue(tenant_configuration, ordering_key="chat-1", n=2)
    later = enqueue(tenant_configuration, n=3)
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    # blocked behind its chain: back to pending with a recheck time, not claimed
    assert engine.delivery_send(delivery_id=second.pk, kind="provider") == "blocked"
    row = Delivery.objects.get(pk=second.pk)
    assert (row.status, row.attempts) == (Delivery.Status.PENDING, 0) and row.next_attempt_at > timezone.now()
    # not due yet
    assert engine.delivery_send(delivery_id=later.pk, kind="provider") == "not_due"
    assert Delivery.objects.get(pk=later.pk).attempts == 0
    # the first goes, releases the second, which goes
    assert engine.delivery_send(delivery_id=first.pk, kind="provider") == "delivered"
    assert engine.delivery_send(delivery_id=second.pk, kind="provider") == "delivered"
    # a final row stays final
    assert engine.delivery_send(delivery_id=second.pk, kind="provider") == "final"
    assert [r.json["n"] for r in fake_provider.requests] == [1, 2]


def test_the_gate_still_stops_what_it_stopped(fast_retries, tenant_configuration, fake_provider):
    """`claim_ready` of provider calls mirrors their gate: `disconnect` queued after the row, or a disabled
    binding, stops it (cancelled, not sent); a farewell still goes."""
    before_goodbye = enqueue(tenant_configuration, endpoint="markChatRead", chatId="chat-1")
    goodbye = enqueue(tenant_configuration, endpoint="disconnect", tenantId="t")
    assert engine.delivery_send(delivery_id=before_goodbye.pk, kind="provider") == "cancelled"
    TenantConfiguration.objects.filter(pk=tenant_configuration.pk).update(status=TenantConfiguration.Status.DISABLED)
    # a row of the disabled binding (written directly: enqueue refuses it now), not after the disconnect
    disabled = Delivery.objects.create(
        kind="provider", tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider,
        tenant_configuration=tenant_configuration, configuration=tenant_configuration.configuration,
        endpoint="markChatRead", url=before_goodbye.url, payload={"chatId": "chat-2"}, next_attempt_at=timezone.now())
    assert engine.delivery_send(delivery_id=disabled.pk, kind="provider") == "cancelled"
    assert engine.delivery_send(delivery_id=goodbye.pk, kind="provider") == "delivered"
    assert [r.endpoint for r in fake_provider.requests] == ["disconnect"]
    assert Delivery.objects.get(pk=before_goodbye.pk).status == Delivery.Status.CANCELLED
    assert Delivery.objects.get(pk=disabled.pk).status == Delivery.Status.CANCELLED


@pytest.mark.postgres
def test_a_prepare_that_fails_after_the_one_statement_claim_gives_the_row_back(fast_retries):
    """Nothing was sent: the row is pending again, the attempt not counted (no lease left to end as lost)."""
    from delivery.kinds import Kind

    class _FailingPrepare(Kind):
        name = "test_failing_prepare"

        def prepare(self, delivery):
            raise RuntimeError("prepare failed")

    with kind_registered(_FailingPrepare):
        delivery = engine.delivery_create(kind=_FailingPrepare.name, endpoint="x", payload={}, synchronous=True)
        with pytest.raises(RuntimeError, match="prepare failed"):
            engine._claim(delivery.pk, _FailingPrepare.name)
        row = Delivery.objects.get(pk=delivery.pk)
        assert (row.status, row.attempts, row.lease_expires_at) == (Delivery.Status.PENDING, 0, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_blocked_while_the_earlier_answer_is_being_recorded_is_sent_once_that_commits(
        fast_retries, tenant_configuration, fake_provider):
    # given: two calls of one chat, committed without dispatch; the first is in progress
    with transaction.atomic():
        first, second = enqueue(tenant_configuration, ordering_key="chat-1"), enqueue(tenant_configuration,
                                                                                      ordering_key="chat-1")
        connection.run_on_commit = []  # only this test's calls send them
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.IN_PROGRESS, attempts=1,
                                                lease_expires_at=timezone.now() + timedelta(minutes=1))

    def record_first():  # the first row's answer being recorded, by a statement that did not see the second row
        Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.DELIVERED, lease_expires_at=None)

    # when: the second row's task runs meanwhile (it sees the first still in progress); the record commits once the
    # task waits for a lock
    with another_transaction(record_first):
        word = engine.delivery_send(delivery_id=second.pk, kind="provider")
    # then: it waited for that answer and sent at once, instead of waiting DELIVERY_BLOCKED_RECHECK for a release
    # that never comes
    assert word == "delivered"
    assert Delivery.objects.get(pk=second.pk).status == Delivery.Status.DELIVERED
    assert [r.json["text"] for r in fake_provider.requests] == ["hi"]
