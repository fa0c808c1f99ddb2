"""EXPLAIN checks of the hot queries on PostgreSQL with seeded volume (issue 19): each walks an index,
none scans a big table sequentially, so their cost stays flat as the tables grow.

Seeded in the test (config/testing/volume.py, a few INSERT … SELECT): 2,000 chats over 20 tenants,
20,000 messages, 4,000 participants, 20,000 provider deliveries (half final, a month and more back) and
their attempts, then ANALYZE — what autovacuum would have done."""

import json
import re
import uuid

import pytest
from django.db import connection
from psycopg.sql import Literal

from communications.api.internal.operator.serializers import OPERATOR_CHAT_COLUMNS
from communications.models import Chat, Delivery, Message
from communications.tests.performance import hot_queries

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BIG_TABLES = {"communications_chat", "communications_message", "communications_delivery",
              "communications_deliveryattempt", "communications_participant"}


def plan(queryset, *, generic: bool = False) -> dict:
    """The plan of a queryset, or of a plain statement given as (sql, params).

    `generic`: the plan PostgreSQL keeps for a prepared statement when it stops planning each run with its values
    (psycopg prepares a statement on its fifth run; PostgreSQL then compares a plan made without the values with
    the ones made with them and may keep it). Such a plan can use a partial index only where the statement's own
    text proves the index's condition: a status or an empty ordering key sent as a parameter proves nothing."""
    sql, params = queryset if isinstance(queryset, tuple) else queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if not generic:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        else:
            numbered, values = _numbered(sql, params)
            values = ", ".join(Literal(value).as_string(cursor.connection) for value in values)
            name = f"hot_query_{uuid.uuid4().hex}"  # a PREPARE outlives a failed test's rollback: never reused
            cursor.execute(f"PREPARE {name} AS {numbered}")
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}" + (f"({values})" if values else ""))
        found = cursor.fetchone()[0]
        if generic:
            cursor.execute(f"DEALLOCATE {name}")
    return (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]


def _numbered(sql: str, params) -> tuple[str, list]:
    """A statement with %s or %(name)s placeholders as PREPARE takes it ($1, $2, …), and its values in that order."""
    values, names = [], {}

    def number(match) -> str:
        if match.group() == "%%":
            return "%"
        if match.group() == "%s":
            values.append(params[len(values)])
            return f"${len(values)}"
        name = match.group(1)
        if name not in names:
            values.append(params[name])
            names[name] = len(values)
        return f"${names[name]}"

    return re.sub(r"%%|%s|%\((\w+)\)s", number, sql), values


def nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


# Indexes that lead to every row of a tenant, a provider or the queue: a per-row statement must not read by them.
WIDE = {"communications_delivery_tenant_id_2abfc7a5", "communications_delivery_provider_id_d898eda7",
        "delivery_provider_recent_idx", "delivery_due_idx"}


def assert_indexed(queryset, *, index: str, never: set[str] = frozenset()) -> list[dict]:
    """No sequential scan of a big table anywhere in the plan, `index` is used and none of `never`: in the plan made
    with the values and in the generic one a prepared statement may keep (`plan`). Returns the generic plan's nodes."""
    for generic in (False, True):
        found = list(nodes(plan(queryset, generic=generic)))
        kind = "generic plan" if generic else "plan"
        seq = [n["Relation Name"] for n in found if n["Node Type"] == "Seq Scan" and n["Relation Name"] in BIG_TABLES]
        assert not seq, f"{kind}: sequential scans of {seq}"
        used = {n.get("Index Name") for n in found}
        assert index in used, f"{kind}: {index} not used; indexes used: {used - {None}}"
        assert not used & never, f"{kind}: reads by {used & never}"
    return found


def test_sweep_of_due_deliveries_reads_only_open_rows(volume):
    found = assert_indexed(hot_queries.sweep_due(), index="delivery_due_idx")
    # Not the walk of every row by next_attempt_at (final rows have old ones): that index is gone.
    assert "communications_delivery_next_attempt_at_a1521a2f" not in {n.get("Index Name") for n in found}


def _open_chain_end(provider) -> Delivery:
    """The last row of a chain with delivered rows before it (a long-lived chat)."""
    chain_key = Delivery.objects.filter(provider=provider, status=Delivery.Status.PENDING).values_list(
        "ordering_key", flat=True).first()
    return Delivery.objects.filter(provider=provider, ordering_key=chain_key).order_by("-pk").first()


def test_claim_with_its_chain_check_reads_only_the_open_rows_of_the_chain(volume):
    found = assert_indexed(hot_queries.claim(_open_chain_end(volume)), index="delivery_chain_open_idx",
                           never=WIDE)
    assert "communications_delivery_pkey" in {n.get("Index Name") for n in found}


def test_claim_in_one_statement_reads_the_row_by_its_key_and_only_the_open_rows_of_the_chain(volume):
    found = assert_indexed(hot_queries.claim_at_once(_open_chain_end(volume)), index="delivery_chain_open_idx",
                           never=WIDE)
    assert "communications_delivery_pkey" in {n.get("Index Name") for n in found}
    assert found[0]["Node Type"] == "ModifyTable" and found[0]["Operation"] == "Update"


def test_a_claims_farewell_check_reads_only_the_tenants_farewells(volume):
    """The claim asks whether `disconnect` was queued for this tenant after the row (`said_goodbye`). Every tenant
    that ever left a provider has such a row, so the check must reach this tenant's by the index, not read every
    farewell of every tenant and filter them (an index on the endpoint alone did that: a heap row per farewell)."""
    row = _open_chain_end(volume)
    tenants = [uuid.uuid4() for _ in range(300)]
    Delivery.objects.bulk_create([
        Delivery(kind=Delivery.Kind.PROVIDER, tenant_id=tenant, provider=volume, endpoint="disconnect",
                 url="https://provider.example/disconnect", next_attempt_at=row.next_attempt_at,
                 status=Delivery.Status.DELIVERED) for tenant in tenants for _ in range(2)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE communications_delivery")
    for generic in (False, True):
        farewell = [n for n in nodes(plan(hot_queries.claim_at_once(row), generic=generic))
                    if "'disconnect'" in n.get("Index Cond", "")]
        assert farewell, "the farewell check reads no index by its endpoint"
        for node in farewell:
            assert node["Index Name"] == "delivery_endpoint_idx"
            assert "tenant_id" in node["Index Cond"] and "provider_id" in node["Index Cond"], node["Index Cond"]


def test_next_of_the_chain_reads_only_its_open_rows(volume):
    first = Delivery.objects.filter(provider=volume, status=Delivery.Status.DELIVERED).order_by("pk").first()
    found = assert_indexed(hot_queries.chain_next(first), index="delivery_chain_open_idx", never=WIDE)
    assert "communications_delivery_pkey" in {n.get("Index Name") for n in found}  # the UPDATE of that one row


def test_message_id_lookup_of_a_later_call_reads_only_its_chain(volume):
    last = _open_chain_end(volume)
    assert_indexed(hot_queries.message_id_resolve(last), index="delivery_chain_idx", never=WIDE)


def test_record_of_a_success_reads_rows_by_key_and_only_the_open_rows_of_the_chain(volume):
    """The hottest statement: every delivered provider call runs it. The row: the first open one of its chain, with
    open rows after it. (Its own row is found by key and status; the in-progress rows are the few in flight.)"""
    first_open = Delivery.objects.filter(provider=volume, status=Delivery.Status.PENDING).order_by("pk").first()
    found = assert_indexed(hot_queries.record_success(first_open), index="delivery_chain_open_idx",
                           never=WIDE - {"delivery_due_idx"})
    assert {"communications_delivery_pkey", "uniq_message_external_id"} <= {n.get("Index Name") for n in found}


def test_provider_id_store_reads_the_message_by_its_id_and_only_the_open_rows_of_the_chain(volume):
    first = Delivery.objects.filter(provider=volume, status=Delivery.Status.DELIVERED).order_by("pk").first()
    found = assert_indexed(hot_queries.provider_id_store(first), index="delivery_chain_open_idx", never=WIDE)
    assert "uniq_message_external_id" in {n.get("Index Name") for n in found}


def test_operator_chat_list_reads_one_page_in_index_order(volume):
    chat = Chat.objects.filter(provider=volume).first()
    found = assert_indexed(hot_queries.operator_chat_page(chat), index="chat_operator_list_idx")
    # The page's unread counts come from the message index, chat by chat — no aggregate of the tenant — with every
    # condition in the index (none left to check on the heap row).
    unread = [n for n in found if n.get("Index Name") == "message_chat_unread_idx"]
    assert unread and all("direction" in n["Index Cond"] and "Filter" not in n for n in unread), unread
    assert not [n for n in found if n["Node Type"] in ("Sort", "Aggregate") and n.get("Strategy") == "Hashed"]


def test_operator_chat_list_counts_unread_incoming_messages(volume):
    """The subquery count is the same figure the old GROUP BY gave: the seeded last message is unread."""
    chat = Chat.objects.filter(provider=volume).first()
    unread = OPERATOR_CHAT_COLUMNS.index("unread_count")
    page = list(hot_queries.operator_chat_page(chat, page_size=5))
    assert [row[unread] for row in page] == [1] * 5
    Message.objects.filter(chat__tenant_id=chat.tenant_id, chat__external_id=page[0][0]).update(seen_flag=True)
    assert list(hot_queries.operator_chat_page(chat, page_size=1))[0][unread] == 0


@pytest.mark.django_db(transaction=True)  # VACUUM, as autovacuum would have: the index answers alone once pages are visible
def test_operator_chat_list_counts_unread_messages_from_the_index_alone(volume):
    """A page's unread counts read no heap page per unread message (an index-only scan; the rows are counted, not their
    keys): 5,523 buffers → 193 for a page of 50 chats with 121 unread each in bench S8."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE communications_message")
    page = hot_queries.operator_chat_page(Chat.objects.filter(provider=volume).first())
    for generic in (False, True):
        found = list(nodes(plan(page.query.sql_with_params(), generic=generic)))
        unread = {n["Node Type"] for n in found if n.get("Index Name") == "message_chat_unread_idx"}
        assert unread == {"Index Only Scan"}, (generic, unread)


@pytest.mark.django_db(transaction=True)  # VACUUM, as autovacuum would have: the index answers alone once pages are visible
def test_operator_chat_list_count_reads_only_the_chats_index(volume):
    """The page's total counts the tenant's chats by an index only, and joins nothing: through the page's LEFT JOIN of
    the channel, the generic plan of a prepared statement read every heap page of the tenant's chats (a bitmap heap
    scan: 1,668 buffers for 2,100 chats in bench S8, against 32 by the index alone)."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE communications_chat")
    chat = Chat.objects.filter(provider=volume).first()
    sql, params = hot_queries.operator_chat_count(chat)
    assert "communications_channel" not in sql and " JOIN " not in sql.upper(), sql
    for generic in (False, True):
        found = list(nodes(plan((sql, params), generic=generic)))
        scans = {(n["Node Type"], n.get("Index Name")) for n in found if "Scan" in n["Node Type"]}
        assert scans <= {("Index Only Scan", "uniq_chat_external_id"), ("Index Only Scan", "chat_operator_list_idx")}, (
            generic, scans)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchone()[0] == Chat.objects.filter(tenant_id=chat.tenant_id, provider=volume).count() > 0


def test_operator_message_page_reads_the_pages_rows_in_index_order(volume):
    """A chat's page of messages walks `message_chat_time_idx` backwards and stops after the page: no sort of every
    message of the chat (a chat of 10,000 messages read all of them per page), and no join of the chat per row. The
    statement carries no parameter (the chat's key is in its text), so its generic plan is this plan."""
    chat = Chat.objects.filter(provider=volume).first()
    Message.objects.bulk_create([Message(tenant_id=chat.tenant_id, provider=volume, chat=chat, external_id=f"long-{i}",
                                         text="…") for i in range(300)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE communications_message")
    found = assert_indexed(hot_queries.operator_message_page(chat), index="message_chat_time_idx")
    assert not [n for n in found if n["Node Type"] == "Sort"], [n["Node Type"] for n in found]
    assert {n.get("Relation Name") for n in found} - {None} == {"communications_message"}
    for generic in (False, True):
        read = [n for n in nodes(plan(hot_queries.operator_message_page(chat), generic=generic))
                if n.get("Index Name") == "message_chat_time_idx"]
        assert read and all(n["Scan Direction"] == "Backward" for n in read), read


def test_message_dedupe_lookup_uses_the_unique_index(volume):
    message = Message.objects.filter(provider=volume).order_by("-pk").first()
    assert_indexed(hot_queries.message_dedupe(message), index="uniq_message_external_id")


def _tokens_of_a_marketplace(provider, tenant_id) -> None:
    """The provider installed at 2,000 other tenants, and this tenant's token replaced 300 times (reinstalls)."""
    from communications.models import IntegrationToken

    IntegrationToken.objects.bulk_create(
        [IntegrationToken(tenant_id=uuid.uuid4(), provider=provider) for _ in range(2000)]
        + [IntegrationToken(tenant_id=tenant_id, provider=provider, status=IntegrationToken.Status.REPLACED)
           for _ in range(300)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE communications_integrationtoken")


def _token_reads(statement) -> list[dict]:
    """How each plan of `statement` (with its values and the generic one) reads the integration tokens."""
    return [n for generic in (False, True) for n in nodes(plan(statement, generic=generic))
            if n.get("Relation Name") == "communications_integrationtoken"
            or n.get("Index Name") == "uniq_active_integration_token"]


def test_the_token_share_locks_read_the_one_active_token_by_its_unique_index(volume):
    """The record of a success and the operator's actions (the send's insert guard, which `integration_require`
    runs for every other action) share-lock the integration's active token, and the send's scope reads it. The status is in the statements' text, so even a generic plan reaches the
    token by `uniq_active_integration_token` (active tokens only): not the tenant's every replaced token, nor the
    provider's every tenant's (with the status as a parameter, the generic plan read the tenant's tokens by
    `tenant_id` and filtered them)."""
    from communications.services.operator import _send_scope_statement, _token_guard

    first_open = Delivery.objects.filter(provider=volume, status=Delivery.Status.PENDING).order_by("pk").first()
    _tokens_of_a_marketplace(volume, first_open.tenant_id)
    chat = Chat.objects.filter(provider=volume, tenant_id=first_open.tenant_id).first()
    scope = _send_scope_statement()
    for statement in (hot_queries.record_success(first_open),
                      (scope.sql, scope.params(tenant_id=chat.tenant_id, provider_code=volume.code,
                                               chat_id=chat.external_id)),
                      _token_guard(chat.tenant_id, volume.pk, connection)):
        reads = _token_reads(statement)
        shown = [(n["Node Type"], n.get("Index Name"), n.get("Filter")) for n in reads]
        assert {n.get("Index Name") for n in reads} - {None} == {"uniq_active_integration_token"}, shown
        assert not [n for n in reads if n["Node Type"] == "Seq Scan"], shown


# The tables the per-message statements join that stay small in a test and in the bench's S8, but grow with the
# marketplace: providers and their configuration versions, signing secrets, installations, tokens, webhooks.
MARKETPLACE_TABLES = {"communications_provider", "communications_providerconfiguration",
                      "communications_providersigningsecret", "communications_tenantconfiguration",
                      "communications_integrationtoken", "communications_webhook"}


@pytest.fixture
def marketplace(volume):
    """`volume` in a marketplace: 2,000 providers with 2 configuration versions and 2 signing secrets each, the volume
    provider installed (with a token and a webhook) at 2,000 more tenants; then ANALYZE. (At a few hundred rows a
    table is a few pages, and a sequential scan is rightly the cheaper plan.)"""
    from communications.models import (
        Provider,
        ProviderConfiguration,
        ProviderSigningSecret,
        TenantConfiguration,
        Webhook,
    )

    providers = Provider.objects.bulk_create(
        [Provider(code=f"mkt-{uuid.uuid4().hex[:10]}", label="Провайдер") for _ in range(2000)])
    configurations = ProviderConfiguration.objects.bulk_create(
        [ProviderConfiguration(provider=provider, app_code=provider.code, app_version=f"1.{n}",
                               configuration_version=f"1.{n}", provider_label="Провайдер", auth_key="key")
         for provider in [*providers, volume] for n in range(2)])
    ProviderSigningSecret.objects.bulk_create(
        [ProviderSigningSecret(provider=provider, secret=uuid.uuid4().hex) for provider in providers for _ in range(2)])
    tenants = [uuid.uuid4() for _ in range(2000)]
    TenantConfiguration.objects.bulk_create(
        [TenantConfiguration(tenant_id=tenant, provider=volume, configuration=configurations[-1], app_version="1.1")
         for tenant in tenants])
    Webhook.objects.bulk_create(
        [Webhook(tenant_id=tenant, provider=volume, url="https://crm.example/hook") for tenant in tenants])
    first_open = Delivery.objects.filter(provider=volume, status=Delivery.Status.PENDING).order_by("pk").first()
    _tokens_of_a_marketplace(volume, first_open.tenant_id)  # ANALYZEs the tokens
    with connection.cursor() as cursor:
        for table in MARKETPLACE_TABLES - {"communications_integrationtoken"}:
            cursor.execute(f"ANALYZE {table}")
    return volume


def test_per_message_statements_read_the_marketplace_tables_by_index(marketplace):
    """The claim, the record of a success and the operator's send (its scope and its insert's guard) join a provider, its configuration, the tenant's
    installation, token and webhook, and the provider's signing secrets: each by an index in both plans, however many
    providers and installations the marketplace has (a sequential scan would read them all for every message)."""
    from communications.services.operator import _send_scope_statement, _token_guard

    first_open = Delivery.objects.filter(provider=marketplace, status=Delivery.Status.PENDING).order_by("pk").first()
    chat = Chat.objects.filter(provider=marketplace, tenant_id=first_open.tenant_id).first()
    scope = _send_scope_statement()
    statements = {"claim": hot_queries.claim_at_once(_open_chain_end(marketplace)),
                  "record": hot_queries.record_success(first_open),
                  "send scope": (scope.sql, scope.params(tenant_id=chat.tenant_id, provider_code=marketplace.code,
                                                         chat_id=chat.external_id)),
                  "send guard": _token_guard(chat.tenant_id, marketplace.pk, connection)}
    for name, statement in statements.items():
        for generic in (False, True):
            found = list(nodes(plan(statement, generic=generic)))
            read = {n["Relation Name"] for n in found if n.get("Relation Name") in MARKETPLACE_TABLES}
            seq = [n["Relation Name"] for n in found if n["Node Type"] == "Seq Scan"
                   and n["Relation Name"] in MARKETPLACE_TABLES | BIG_TABLES]
            assert read, f"{name}: reads none of the marketplace tables"
            assert not seq, (f"{name} ({'generic' if generic else 'custom'} plan): sequential scans of {seq}",
                             [(n["Node Type"], n.get("Relation Name"), n.get("Filter"), n.get("Plan Rows"))
                              for n in found if n["Node Type"] == "Seq Scan"])


def test_operator_send_reads_its_scope_in_one_statement_by_unique_indexes(volume):
    """The operator's send: provider, integration, token, chat and webhook in one statement (services/operator.py);
    the chat by its unique index, not a walk of the tenant's chats."""
    from communications.services.operator import _send_scope_statement

    chat = Chat.objects.filter(provider=volume).order_by("-pk").first()
    statement = _send_scope_statement()
    found = assert_indexed((statement.sql, statement.params(tenant_id=chat.tenant_id, provider_code=volume.code,
                                                            chat_id=chat.external_id)),
                           index="uniq_chat_external_id")
    # it locks nothing: the insert's guard share-locks the token (services/operator.py `_token_guard`)
    assert "FOR SHARE" not in statement.sql and {"communications_provider", "communications_integrationtoken"} <= {
        n.get("Relation Name") for n in found}


def test_retention_batch_reads_the_oldest_final_rows_by_index(volume):
    assert_indexed(hot_queries.retention_batch(), index="delivery_final_age_idx")


def _status_lists(q) -> list[tuple]:
    found = []
    for child in q.children:
        if isinstance(child, tuple):
            if child[0] == "status__in":
                found.append(tuple(child[1]))
        else:
            found += _status_lists(child)
    return found


def test_partial_index_conditions_match_the_status_constants():
    """The partial indexes are written with literal statuses; the queries that must match them use the
    constants. They must stay the same lists in the same order (PostgreSQL proves the predicate)."""
    conditions = {index.name: index.condition for index in Delivery._meta.indexes}
    assert _status_lists(conditions["delivery_chain_open_idx"]) == [tuple(Delivery.RELEASING_STATUSES)]
    assert _status_lists(conditions["delivery_final_age_idx"]) == [tuple(Delivery.FINAL_STATUSES)]


def _page_statements(provider) -> dict[str, str]:
    """The statements a history page of 100 new messages into a tenant's known chats runs (the initial sync, the bulk
    endpoint), as sent (plain SQL with its values inlined)."""
    from django.test.utils import CaptureQueriesContext

    from communications.services.inbound import messages_import

    chat = Chat.objects.filter(provider=provider).first()
    chats = list(Chat.objects.filter(tenant_id=chat.tenant_id, provider=provider).values_list("external_id", flat=True))
    page = [{"id": f"page-{i}", "chat": {"id": chats[i % len(chats)]}, "text": "привет", "replyTo": f"page-{i - 1}"}
            for i in range(100)]
    with CaptureQueriesContext(connection) as queries:
        results = messages_import(tenant_id=chat.tenant_id, provider=provider, items=page, light=True)
    assert [r.result for r in results] == ["created"] * 100
    return {q["sql"].split(" WHERE ")[0]: q["sql"] for q in queries.captured_queries}


def _sql_plan(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        found = cursor.fetchone()[0]
    return list(nodes((json.loads(found) if isinstance(found, str) else found)[0]["Plan"]))


def test_history_page_lookups_and_reply_links_walk_indexes(volume):
    """S7: the page's known-messages and known-chats lookups (one array of ids each) and the UPDATE that links
    replies read indexes, not the tables."""
    statements = _page_statements(volume)
    # The tenant's chats by either index that starts with (tenant, provider): the page names most of them here.
    expected = {'SELECT "external_id", "request_fingerprint" FROM "communications_message"': {"uniq_message_external_id"},
                'SELECT "external_id", "id" FROM "communications_chat"': {"uniq_chat_external_id",
                                                                          "chat_operator_list_idx"},
                "UPDATE communications_message AS m SET reply_to_id = q.id FROM communications_message AS q":
                    {"message_unresolved_reply_idx"}}
    for head, indexes in expected.items():
        found = _sql_plan(statements[head])
        seq = [n["Relation Name"] for n in found if n["Node Type"] == "Seq Scan" and n["Relation Name"] in BIG_TABLES]
        assert not seq, f"{head}: sequential scans of {seq}"
        assert indexes & {n.get("Index Name") for n in found}, f"{head}: none of {indexes} used"


def test_the_replies_relink_beat_reads_only_recent_waiting_replies(volume):
    from datetime import timedelta

    from django.utils import timezone

    from communications.services.conversations import replies_relink_statement

    # given: replies whose quote never came, stored long ago (they stay waiting for good)
    old = Message.objects.filter(provider=volume).order_by("pk").values("pk")[:5000]
    Message.objects.filter(pk__in=old).update(reply_to_external_id="never-came",
                                              created_at=timezone.now() - timedelta(days=30))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE communications_message")
    # then: the beat reads the recent waiting replies only, not every waiting reply
    assert_indexed(replies_relink_statement(timezone.now() - timedelta(minutes=10)), index="message_recent_reply_idx",
                   never={"message_unresolved_reply_idx"})


def test_a_notifications_claim_counts_its_attempt_by_the_history_rows_delivery_index():
    """The claim of a notification's row also counts the attempt on its history row (`claim_also`): by the index on
    the history row's delivery, never a scan of the history, which the spec keeps for ever."""
    from notifications.models import Notification, Recipient
    from notifications.services.sending import _delivery_create

    recipient = Recipient.objects.create(role="manager", name="Менеджер", email="m@example.com")
    table = connection.ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (id, recipient_id, service, subject, type, message, timestamp, "  # noqa: S608
                       "status, is_async, attempts, last_error, external_id, idempotency_key, request_fingerprint) "
                       "SELECT gen_random_uuid(), %s, 'telegram', 'Тема', 'notification', 'Текст', now(), 'sent', "
                       "false, 1, '', '', '', '' FROM generate_series(1, 20000)", [recipient.pk])
    row = Notification.objects.create(recipient=recipient, service="telegram", subject="Тема", type="notification",
                                      message="Текст")
    _delivery_create(row, synchronous=True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    delivery = Delivery.objects.get(pk=row.delivery_id)
    for generic in (False, True):
        found = list(nodes(plan(hot_queries.claim_at_once(delivery), generic=generic)))
        history = [n for n in found if n.get("Relation Name") == Notification._meta.db_table]
        assert history and {n["Node Type"] for n in history} <= {"Index Scan", "Bitmap Heap Scan", "ModifyTable"}, \
            [(n["Node Type"], n.get("Index Name")) for n in history]
