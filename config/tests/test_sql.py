"""config/sql.py helpers that the statement-budget tests do not reach on their own."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

from communications.models import Delivery, DeliveryAttempt
from communications.tests.factories import DeliveryAttemptFactory, DeliveryFactory
from config.sql import (
    MARK,
    Compiled,
    conditions_sql,
    insert_row,
    insert_row_sql,
    known_empty,
    update_row,
    update_row_sql,
)
from delivery import engine
from delivery.kinds import KIND_MODULES, kind_get

pytestmark = pytest.mark.django_db


def test_known_empty_reads_as_an_evaluated_empty_queryset():
    # given: a delivery with an attempt
    delivery = DeliveryFactory()
    DeliveryAttemptFactory(delivery=delivery)
    delivery = Delivery.objects.get(pk=delivery.pk)
    # when: its attempts are marked as known empty (as for a row just written)
    known_empty(delivery, "attempt_log")
    # then: reading them costs no statement and gives nothing, through a QuerySet of the related model
    with CaptureQueriesContext(connection) as queries:
        rows = delivery.attempt_log.all()
        assert list(rows) == [] and rows.count() == 0 and not rows.exists() and rows.first() is None
    assert len(queries) == 0
    assert rows.model is DeliveryAttempt
    # and a fresh read of the row sees the stored attempt again
    assert Delivery.objects.get(pk=delivery.pk).attempt_log.count() == 1


def _with_later_row(pk):
    later = Delivery.objects.filter(tenant_id=OuterRef("tenant_id"), pk__gt=OuterRef("pk"))
    return (Delivery.objects.select_related("provider", "tenant_configuration")
            .annotate(has_later=Exists(later)).filter(pk=pk))


def test_a_compiled_query_names_its_tables_by_short_aliases_and_reads_what_the_orm_reads():
    # given: two deliveries of one tenant, and a query with joins and a subquery of the same table
    first = DeliveryFactory()
    DeliveryFactory(tenant_id=first.tenant_id, provider=first.provider,
                    tenant_configuration=first.tenant_configuration)
    query = Compiled(_with_later_row(MARK))
    # then: the outer tables go by short aliases; the subquery keeps Django's own (U0)
    for table in (Delivery._meta.db_table, "communications_provider", "communications_tenantconfiguration"):
        assert f'{connection.ops.quote_name(table)}.' not in query.sql
    assert f'{connection.ops.quote_name(Delivery._meta.db_table)} U0' in query.sql
    # and: the row, its related rows and the annotation are the ORM's
    expected = _with_later_row(first.pk).get()
    found = query.get(first.pk)
    assert found.has_later is expected.has_later is True
    assert [found.pk, found.provider.code, found.tenant_configuration.pk, found.payload] == [
        expected.pk, expected.provider.code, expected.tenant_configuration.pk, expected.payload]


def test_a_compiled_query_binds_only_its_key_and_writes_its_constants_as_quoted_literals():
    # given: a delivery whose endpoint holds a quote and a percent sign, and a query that filters on it
    row = DeliveryFactory(endpoint="it's 50% done")
    DeliveryFactory(endpoint="other", tenant_id=row.tenant_id)
    query = Compiled(Delivery.objects.filter(endpoint="it's 50% done", pk=MARK))
    # then: it reads that row (and not the other by the same key)
    assert query.get(row.pk).pk == row.pk
    assert Compiled(Delivery.objects.filter(endpoint="other", pk=MARK)).get(row.pk) is None
    # and on PostgreSQL only the key is a parameter: the constant is in the SQL, quoted, its % doubled for psycopg
    if connection.vendor == "postgresql":
        assert query.statement(row.pk)[1] == [row.pk]
        assert "'it''s 50%% done'" in query.sql


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's")
@pytest.mark.parametrize("name", sorted(KIND_MODULES))
def test_every_claim_statement_is_short_enough_for_psycopg_to_parse_it_once(name):
    """psycopg caches its parse of a statement up to 4,096 characters and 50 parameters; a longer one is parsed
    on every attempt (issue 19)."""
    kind = kind_get(name)
    statements = [engine.claim_query(kind).statement(1)]
    if kind.claim_ready() is not None:  # the usual claim in one statement
        now = timezone.now()
        query, statement = engine.claim_at_once_statement(kind, 1, now, now + timedelta(seconds=60))
        statements.append(query.statement(1, **statement))
    for sql, params in statements:
        assert len(sql) <= MAX_CACHED_STATEMENT_LENGTH and len(params) <= MAX_CACHED_STATEMENT_PARAMS


def test_update_row_writes_what_save_would_write_and_builds_each_shape_once():
    """`update_row_sql` keeps the text of each shape (columns, conditions, which values are NULL) and prepares only
    the values: a time, JSON, an integer, an enum's text and NULL read back as the ORM would have written them."""
    delivery = DeliveryFactory()
    later = timezone.now() + timedelta(minutes=5)
    leased = {"status": Delivery.Status.IN_PROGRESS, "attempts": 3, "lease_expires_at": later,
              "response_json": {"ok": [1, "два"]}, "last_error": "ошибка «500»", "provider": None}
    released = {**leased, "status": Delivery.Status.PENDING, "lease_expires_at": None, "response_json": None,
                "provider": delivery.provider_id}
    names = ("status", "attempts", "lease_expires_at", "response_json", "last_error", "provider_id")

    for values, previous in ((leased, "pending"), (released, "in_progress")):
        assert update_row(Delivery, delivery.pk, values, where={"status": "failed"}) == 0  # a condition that fails
        assert update_row(Delivery, delivery.pk, values, where={"status": previous}) == 1
        stored = Delivery.objects.values_list(*names).get(pk=delivery.pk)
        assert stored == tuple(values[name.removesuffix("_id")] for name in names)

    first, _ = update_row_sql(Delivery, delivery.pk, leased)
    again, params = update_row_sql(Delivery, delivery.pk + 1, {**leased, "attempts": 4})
    other, _ = update_row_sql(Delivery, delivery.pk, released)
    assert again is first and params[1] == 4 and params[-1] == delivery.pk + 1  # the same shape: the same text
    assert other != first and "NULL" in other  # NULL written out where the value is None


def test_insert_row_and_conditions_prepare_values_as_the_orm_does():
    delivery = DeliveryFactory(tenant_id=None)
    started = timezone.now() - timedelta(seconds=2)
    values = {"delivery": delivery.pk, "number": 1, "started_at": started, "outcome": "failed", "status_code": None,
              "latency_ms": 12, "error": "таймаут"}
    insert_row(DeliveryAttempt, values)
    stored = DeliveryAttempt.objects.get(delivery=delivery)
    assert (stored.number, stored.started_at, stored.status_code, stored.latency_ms, stored.error) == (
        1, started, None, 12, "таймаут")
    sql, params = insert_row_sql(DeliveryAttempt, values)
    assert insert_row_sql(DeliveryAttempt, {**values, "number": 2})[0] is sql and params[0] == delivery.pk

    chain = {"kind": delivery.kind, "tenant_id": None, "provider_id": delivery.provider_id}
    sql, params = conditions_sql(Delivery, chain)
    assert sql == '"kind" = %s AND "tenant_id" IS NULL AND "provider_id" = %s'
    assert params == [delivery.kind, delivery.provider_id]
    assert Delivery.objects.extra(where=[sql], params=params).get() == delivery  # noqa: S610 (the test's own SQL)
