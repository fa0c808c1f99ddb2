"""Engine round 5 (issue 19): a provider call's success recorded by one statement — the integration's share locks
first (`Kind.lock_sql`), the row delivered only while the attempt holds it, the `on_delivered` handler's id store
(`on_delivered_handler(sql=…)`) and the next row of the chain — and the general record whenever it does not apply."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications.models import Delivery, DeliveryAttempt, Message
from communications.services import operator
from delivery import engine
from delivery.kinds import Attempt
from delivery.outcomes import SUCCESS

pytestmark = pytest.mark.postgres


def _send(tenant_id, provider, capture, text="Привет"):
    with capture(execute=False):
        message = operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text=text)
    return message, Delivery.objects.get(endpoint="sendMessage", payload__clientMessageId=message.external_id)


def _edit(tenant_id, provider, capture, message):
    with capture(execute=False):
        operator.operator_message_edit(tenant_id=tenant_id, provider=provider, message_id=message.pk, text="Правка")
    return Delivery.objects.get(endpoint="updateMessageContent", payload__clientMessageId=message.external_id)


def test_a_send_is_claimed_and_recorded_in_two_statements_with_the_id_store(chat, django_capture_on_commit_callbacks):
    tenant_id, provider = chat
    message, sent = _send(tenant_id, provider, django_capture_on_commit_callbacks)
    _, behind = _send(tenant_id, provider, django_capture_on_commit_callbacks, text="Второе")
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=behind.pk).update(next_attempt_at=later)  # its task found the chain blocked

    with django_capture_on_commit_callbacks() as released, CaptureQueriesContext(connection) as queries:
        assert engine.delivery_send(delivery_id=sent.pk, kind="provider") == "delivered"

    # the claim (the signing secrets with it), then the record: one statement (a savepoint in the test's transaction)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 4, statements
    assert statements[1].startswith("SAVEPOINT") and statements[3].startswith("RELEASE")
    assert statements[2].startswith("WITH provider AS (SELECT 1 FROM")
    sent.refresh_from_db()
    assert (sent.status, sent.last_error, sent.lease_expires_at) == (Delivery.Status.DELIVERED, "", None)
    assert sent.provider_message_id.startswith("prov-") and sent.response_status == 200
    assert Message.objects.get(pk=message.pk).external_id == sent.provider_message_id
    assert list(DeliveryAttempt.objects.filter(delivery=sent).values_list("number", "outcome")) == [(1, "success")]
    # the next send of the chat is due now and goes out after commit
    assert Delivery.objects.get(pk=behind.pk).next_attempt_at < later - timedelta(minutes=59)
    assert len(released) == 1


def test_the_next_row_is_both_given_the_id_and_released_when_it_is_a_call_about_the_message(
        chat, django_capture_on_commit_callbacks):
    """PostgreSQL writes a row once per statement: the id store writes the edit right behind the send, so the
    release of that same row takes a statement of its own after the record."""
    tenant_id, provider = chat
    message, sent = _send(tenant_id, provider, django_capture_on_commit_callbacks)
    edit = _edit(tenant_id, provider, django_capture_on_commit_callbacks, message)
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=edit.pk).update(next_attempt_at=later)

    with django_capture_on_commit_callbacks() as released, CaptureQueriesContext(connection) as queries:
        assert engine.delivery_send(delivery_id=sent.pk, kind="provider") == "delivered"

    sent.refresh_from_db()
    edit.refresh_from_db()
    assert edit.payload["messageId"] == sent.provider_message_id != ""
    assert edit.next_attempt_at < later - timedelta(minutes=59) and edit.status == Delivery.Status.PENDING
    assert len(released) == 1
    assert len(queries) == 5  # the claim, the record (in its savepoint pair), the release


def test_a_row_cancelled_during_the_call_gets_nothing_of_the_statement(chat, django_capture_on_commit_callbacks):
    tenant_id, provider = chat
    message, sent = _send(tenant_id, provider, django_capture_on_commit_callbacks)
    edit = _edit(tenant_id, provider, django_capture_on_commit_callbacks, message)
    claimed, number, started_at = engine._claim(sent.pk, "provider")
    engine.delivery_cancel(delivery_id=sent.pk)  # e.g. a deactivation while the call was on the wire
    answer = Attempt(SUCCESS, status_code=200, response_json={"messageId": "prov-late"}, external_id="prov-late")

    with django_capture_on_commit_callbacks():
        assert engine._record(claimed, number, started_at, answer) == "superseded"

    # the general record logged the answer; the message and the queued edit did not learn the id
    sent.refresh_from_db()
    assert sent.status == Delivery.Status.CANCELLED and sent.provider_message_id == ""
    assert list(DeliveryAttempt.objects.filter(delivery=sent).values_list("outcome", flat=True)) == ["success"]
    assert Message.objects.get(pk=message.pk).external_id == message.external_id
    assert Delivery.objects.get(pk=edit.pk).payload == edit.payload


def test_an_answer_without_an_id_takes_the_general_record(chat, django_capture_on_commit_callbacks, caplog):
    tenant_id, provider = chat
    message, sent = _send(tenant_id, provider, django_capture_on_commit_callbacks)
    claimed, number, started_at = engine._claim(sent.pk, "provider")

    with django_capture_on_commit_callbacks(), CaptureQueriesContext(connection) as queries:
        assert engine._record(claimed, number, started_at, Attempt(SUCCESS, status_code=200)) == "delivered"

    assert not any("logged AS (INSERT" in q["sql"] for q in queries.captured_queries)
    assert "provider returned no message id" in caplog.text
    assert Message.objects.get(pk=message.pk).external_id == message.external_id


def test_the_delivery_row_is_read_and_locked_only_after_the_integrations_share_locks(
        chat, django_capture_on_commit_callbacks):
    """The lock order in one statement: the delivery UPDATE's scan sits under a one-time filter over the token lock
    (an InitPlan, run before the row is read), and the token's lock query under one over the binding's, and so on."""
    tenant_id, provider = chat
    _, sent = _send(tenant_id, provider, django_capture_on_commit_callbacks)
    seen = []

    def keep(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with django_capture_on_commit_callbacks(), connection.execute_wrapper(keep):
        assert engine.delivery_send(delivery_id=sent.pk, kind="provider") == "delivered"
    sql, params = next((sql, params) for sql, params in seen if sql.startswith("WITH provider AS"))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    stored = _node(plan[0]["Plan"], lambda node: node.get("Subplan Name") == "CTE stored")
    assert stored["Node Type"] == "ModifyTable" and stored["Relation Name"] == "communications_delivery"
    # the row's scan sits under a one-time filter (checked before the scan's first row is read) ...
    gate = _node(stored, lambda node: "One-Time Filter" in node)
    assert gate is not None and gate["Node Type"] == "Result", stored
    assert _node(gate, lambda node: node.get("Relation Name") == "communications_delivery"
                 and node.get("Parent Relationship") != "InitPlan") is not None
    # ... over the InitPlan that reads the token lock's CTE
    token_init = [node for node in stored["Plans"] if node.get("Parent Relationship") == "InitPlan"
                  and _node(node, lambda n: n.get("CTE Name") == "token") is not None]
    assert len(token_init) == 1, stored
    returned = token_init[0]["Subplan Name"].split("returns ")[1].rstrip(")")  # "$8" (PostgreSQL 15)
    assert returned in gate["One-Time Filter"], (returned, gate["One-Time Filter"])
    # the token's lock query waits for the binding's the same way
    token = _node(plan[0]["Plan"], lambda node: node.get("Subplan Name") == "CTE token")
    assert _node(token, lambda node: "One-Time Filter" in node) is not None
    assert _node(token, lambda node: node.get("Node Type") == "LockRows") is not None


def _nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _node(node, match):
    if match(node):
        return node
    for child in node.get("Plans", []):
        found = _node(child, match)
        if found is not None:
            return found
    return None
