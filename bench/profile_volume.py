"""In-process profile of the three S8 operations before and after the volume seed (issue 19, "cost as the data
grows"): does the work of the web process grow with the data, or only PostgreSQL's? The bench's S8 compares CPU
seconds, which this VM's drift moves by up to 30 % within a run; the Python calls a request makes do not drift.

- S1: a provider's message into one of 100 chats (`POST /api/v1/messages`, 2 participants), not the listed ones: the
  unread counts of the listed chats stay the same before and after;
- S5 (web side): the operator's message into one of them (`POST /internal/v1/operator/chats/<id>/messages`); its
  delivery is published to a queue of its own (emptied at the end), as gunicorn publishes it; no worker takes it;
- the operator's chat list, pages 1–2 of 50 (`GET /internal/v1/operator/chats`). Each chat has PROFILE_UNREAD unread
  incoming messages first (the bench's S1 runs leave ~150);
- a chat's messages, pages 1–2 of 50 (`GET /internal/v1/operator/chats/<id>/messages`; not a bench scenario).

Then `config/testing/volume.py` seeds PROFILE_SCALE × (1,000,000 messages in 100,000 chats over 50 tenants, this
tenant one of them; 200,000 delivery rows, half final) and VACUUM ANALYZE, as bench S8 does, and measures again.

Run explicitly (not collected by the suite), on PostgreSQL with a Redis broker:
    REDIS_URL=redis://127.0.0.1:6379/11 PROFILE_N=200 PROFILE_SCALE=1 pytest bench/profile_volume.py -q -s
PROFILE_TOP=<operation name> prints the top of its profile before the seed; PROFILE_EXPLAIN=<operation name> the
EXPLAIN (ANALYZE, BUFFERS) of its SELECTs, before and after. Prints per request, before and after: Python calls, CPU of this thread (not PostgreSQL, not Redis), statements,
and PostgreSQL's execution + planning time and shared buffers touched (pg_stat_statements, when the server preloads
it; the test's own reads of it are in the figures, the same before and after)."""

import cProfile
import os
import pstats
import time
import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from communications.services.tokens import integration_token_issue
from communications.tests.factories import chat_make, operator_scope, provider_setup, tenant_install
from config.testing.volume import Volume, volume_seed

N = int(os.environ.get("PROFILE_N", "200"))
SCALE = float(os.environ.get("PROFILE_SCALE", "1"))
UNREAD = int(os.environ.get("PROFILE_UNREAD", "150"))
CHATS = 100
QUEUE = "profile-volume"


def _pg() -> tuple[float, float, int] | None:
    """PostgreSQL's execution + planning time (ms) and the shared buffers its statements touched so far in this
    database, and how many entries pg_stat_statements has dropped for room (None: no pg_stat_statements). Buffers,
    like Python calls, do not drift with the VM."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT sum(total_exec_time + total_plan_time), sum(shared_blks_hit + shared_blks_read), "
                           "(SELECT dealloc FROM pg_stat_statements_info) FROM pg_stat_statements "
                           "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
            ms, buffers, dropped = cursor.fetchone()
            return float(ms or 0), float(buffers or 0), dropped
    except DatabaseError:
        return None


def _measure(operations: dict, label: str) -> dict:
    results = {}
    for name, call in operations.items():
        for _ in range(20):
            call()
        with CaptureQueriesContext(connection) as queries:
            call()
        if os.environ.get("PROFILE_EXPLAIN") == name:
            with connection.cursor() as cursor:
                for q in queries.captured_queries:
                    if q["sql"].startswith("SELECT"):
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {q['sql']}")
                        print(f"--- {label}: {q['sql'][:300]}\n" + "\n".join(r[0] for r in cursor.fetchall()))
        statements = sum(not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")) for q in
                         queries.captured_queries)
        pg, cpu = _pg(), time.thread_time()
        for _ in range(N):
            call()
        cpu, pg_after = (time.thread_time() - cpu) / N * 1000, _pg()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(N):
            call()
        profile.disable()
        if os.environ.get("PROFILE_TOP") == name and label == "before":
            pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        row = results[name] = {"calls": pstats.Stats(profile).total_calls / N, "cpu_ms": cpu,
                               "statements": statements}
        pg_text = "n/a"
        if pg is not None and pg_after is not None and pg[2] == pg_after[2]:  # no entry dropped (its sums with it)
            row.update(pg_ms=(pg_after[0] - pg[0]) / N, pg_buffers=(pg_after[1] - pg[1]) / N)
            pg_text = f"{row['pg_ms']:.3f} ms, {row['pg_buffers']:.1f} buffers"
        print(f"{label:>7} {name:<12} Python calls {row['calls']:>7.0f}; CPU {row['cpu_ms']:6.2f} ms (this thread); "
              f"statements {statements}; PostgreSQL {pg_text}")
    return results


@pytest.mark.django_db(transaction=True)
def test_s8_operations_before_and_after_volume(crm_client, fake_provider, settings):
    from config.celery import app

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (the volume seed)")
    if not str(app.conf.broker_url or "").startswith("redis"):
        pytest.fail("Set REDIS_URL (or CELERY_BROKER_URL) to a Redis: the web process publishes there.")
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        except DatabaseError:
            pass  # no PostgreSQL figures
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    token = integration_token_issue(tenant_id=tenant_id, provider=provider).value
    for i in range(CHATS):  # S1's chats, older than the listed ones: its unread messages stay off the listed pages
        chat_make(tenant_id, provider, chat_id=f"in-{i}")
    chats = [chat_make(tenant_id, provider, chat_id=f"chat-{i}") for i in range(CHATS)]
    with connection.cursor() as cursor:  # what the bench's S1 runs leave: unread incoming messages in every chat
        cursor.execute("""
            INSERT INTO communications_message (tenant_id, provider_id, chat_id, external_id, direction, text,
                sender_external_id, seen_flag, status, status_error, request_fingerprint, reply_to_external_id,
                sent_at, created_at, updated_at)
            SELECT %s, %s, c, 'p-' || c || '-' || g, 'incoming', 'Здравствуйте!', 'client-1', false, 'sent', '', '',
                   '', now(), now(), now()
            FROM unnest(%s::bigint[]) AS c CROSS JOIN generate_series(1, %s) AS g""",
                       [tenant_id, provider.pk, [chat.pk for chat in chats], UNREAD])
        cursor.execute("VACUUM ANALYZE")
    settings.DELIVERY_QUEUE = QUEUE
    app.conf.task_always_eager = False  # published, as the web process does; nobody consumes this queue
    scope, api, counter = operator_scope(provider, tenant_id), APIClient(), iter(range(10**9))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def ingest():
        n = next(counter)
        chat = f"in-{n % CHATS}"
        body = {"id": f"s1-{n}", "chat": {"id": chat, "title": f"Чат {chat}", "type": "private", "participants": [
            {"id": f"user-{i}", "name": f"Участник {i}", "username": f"user{i}"} for i in range(2)]},
                "direction": "incoming", "senderId": "user-0", "sentAt": "2026-11-20T10:15:00Z",
                "text": "Здравствуйте! Подскажите, пожалуйста, статус заказа №12345?"}
        assert api.post("/api/v1/messages", body, format="json").status_code == 201

    def operator_send():
        n = next(counter)
        assert crm_client.post(f"/internal/v1/operator/chats/chat-{n % CHATS}/messages",
                               {**scope, "text": f"bench {n}", "operatorId": "operator-1"},
                               format="json").status_code == 201

    def chat_list():
        page = 1 + next(counter) % 2
        assert crm_client.get("/internal/v1/operator/chats", {**scope, "page": page}).status_code == 200

    def message_list():
        n = next(counter)
        assert crm_client.get(f"/internal/v1/operator/chats/chat-{n % CHATS}/messages",
                              {**scope, "page": 1 + n % 2}).status_code == 200

    operations = {"S1 ingest": ingest, "S5 web": operator_send, "chat list": chat_list, "messages": message_list}
    try:
        before = _measure(operations, "before")
        volume = Volume(tenants=[tenant_id, *(uuid.uuid4() for _ in range(49))],
                        chats=max(int(100_000 * SCALE), 50), messages_per_chat=10,
                        deliveries=max(int(200_000 * SCALE), 2), prefix="s8")
        started = time.monotonic()
        with transaction.atomic():  # the seed's temporary table lives until the commit
            counts = volume_seed(connection, provider_id=provider.pk, volume=volume)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"\nseeded {counts} in {time.monotonic() - started:.0f} s")
        after = _measure(operations, "after")
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete(QUEUE, f"delivery-feed:{QUEUE}")
    print("\nafter / before:")
    for name in operations:
        print(f"  {name:<12} " + "; ".join(f"{key} {after[name][key] / before[name][key]:.3f}"
                                          for key in before[name] if before[name][key] and key in after[name]))
