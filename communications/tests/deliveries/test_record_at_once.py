"""Issue 19: a success recorded by one statement (`engine._record_success_at_once`) — the row delivered only while
the attempt still holds it, its attempt log, the next row of its chain due, the kind's hooks as SQL — and the
general record whenever that statement does not apply or does not take the row."""

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications.models import Delivery, DeliveryAttempt
from config.testing.kinds import kind_registered
from delivery import engine
from delivery.kinds import AlsoSql, Attempt, Kind
from delivery.outcomes import SUCCESS

pytestmark = pytest.mark.postgres

ANSWER = Attempt(SUCCESS, status_code=200, latency_ms=3, excerpt='{"id": "ext-1"}', response_json={"id": "ext-1"},
                 external_id="ext-1")


@pytest.fixture
def kind(db):
    """A kind of this test's own: its `send` answers `ANSWER` after `before_answer(row)`; `also` is what its
    `success_at_once` gives (None: the general record)."""

    class _Quick(Kind):
        name = "test_quick"
        before_answer = staticmethod(lambda delivery: None)
        also = []

        def send(self, delivery):
            self.before_answer(delivery)
            return ANSWER

        def success_at_once(self, delivery, attempt):
            return self.also

    with kind_registered(_Quick) as instance:
        yield instance


def _row(kind, **fields):
    return engine.delivery_create(kind=kind.name, endpoint="x", payload={}, synchronous=True, **fields)


def test_a_success_is_recorded_by_one_statement_with_its_attempt_and_the_chain_release(
        kind, django_capture_on_commit_callbacks):
    first, second = _row(kind, ordering_key="chat-1"), _row(kind, ordering_key="chat-1")
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=later)  # its task found the chain blocked

    with django_capture_on_commit_callbacks() as released, CaptureQueriesContext(connection) as queries:
        assert engine.delivery_send(delivery_id=first.pk, kind=kind.name) == "delivered"

    # the claim, then the record: one statement (in the test's transaction, inside a savepoint)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 4 and statements[1].startswith("SAVEPOINT") and statements[3].startswith("RELEASE")
    assert statements[2].startswith("WITH stored AS (UPDATE")
    row = Delivery.objects.get(pk=first.pk)
    assert (row.status, row.lease_expires_at, row.last_error, row.attempts) == (Delivery.Status.DELIVERED, None, "", 1)
    assert (row.provider_message_id, row.response_status, row.response_json) == ("ext-1", 200, {"id": "ext-1"})
    assert row.response_excerpt == '{"id": "ext-1"}' and row.delivered_at is not None
    attempt = DeliveryAttempt.objects.get(delivery=row)
    assert (attempt.number, attempt.outcome, attempt.status_code, attempt.latency_ms, attempt.error) == (
        1, DeliveryAttempt.Outcome.SUCCESS, 200, 3, "")
    # the next row of the chain is due now and goes out after commit
    assert Delivery.objects.get(pk=second.pk).next_attempt_at < later - timedelta(minutes=59)
    assert len(released) == 1


def test_a_row_cancelled_during_the_call_is_recorded_by_the_general_record(kind):
    side = _row(kind)
    ran = []
    kind.also = [AlsoSql("UPDATE communications_delivery SET last_error = 'hook ran' WHERE id = %s AND {ours} "
                         "RETURNING 1", [side.pk], ran.append)]
    kind.before_answer = lambda delivery: engine.delivery_cancel(delivery_id=delivery.pk)
    row = _row(kind)

    assert engine.delivery_send(delivery_id=row.pk, kind=kind.name) == "superseded"

    # nothing of the one statement was written; the general record logged the answer once
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.CANCELLED
    assert list(DeliveryAttempt.objects.filter(delivery=row).values_list("outcome", flat=True)) == [
        DeliveryAttempt.Outcome.SUCCESS]
    assert Delivery.objects.get(pk=side.pk).last_error == "" and ran == []


def test_the_kinds_statement_runs_with_the_record_and_reports_its_rows(kind):
    side = _row(kind)
    ran = []
    kind.also = [AlsoSql("UPDATE communications_delivery SET last_error = 'hook ran' WHERE id = %s AND {ours} "
                         "RETURNING 1", [side.pk], ran.append)]
    row = _row(kind)

    assert engine.delivery_send(delivery_id=row.pk, kind=kind.name) == "delivered"

    assert Delivery.objects.get(pk=side.pk).last_error == "hook ran" and ran == [1]


def test_a_failing_statement_leaves_nothing_half_written_and_the_general_record_stores_the_answer(kind, caplog):
    kind.also = [AlsoSql("UPDATE no_such_table SET x = 1 WHERE {ours}", [])]
    row = _row(kind)

    with caplog.at_level(logging.ERROR, logger="delivery.engine"):
        assert engine.delivery_send(delivery_id=row.pk, kind=kind.name) == "delivered"

    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.DELIVERED
    assert DeliveryAttempt.objects.filter(delivery=row).count() == 1  # the failed statement wrote no attempt
    assert "one-statement record failed" in caplog.text


def test_a_kind_with_hooks_in_python_takes_the_general_record(kind):
    kind.also = None
    row = _row(kind)

    with CaptureQueriesContext(connection) as queries:
        assert engine.delivery_send(delivery_id=row.pk, kind=kind.name) == "delivered"

    assert not any(q["sql"].startswith("WITH stored AS (UPDATE") for q in queries.captured_queries)
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.DELIVERED
    assert DeliveryAttempt.objects.filter(delivery=row).count() == 1
