"""The moderators' lists of the tables that grow with every message (issue 19, "cost as the data grows"): a page of
the delivery log reads a bounded number of rows, not the table. Django's changelist counts every row twice (the
filtered and the full count) and its filters listed every endpoint and tenant by reading the table: seconds per page on
a month of deliveries."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications.admin.deliveries import TenantFilter
from communications.models import Delivery

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CAP = 1000


def _rows_read(sql: str, params, table: str) -> int:
    """Rows the statement's scans of `table` really read (EXPLAIN ANALYZE: a changelist only reads)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        found = cursor.fetchone()[0]
    plan = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]

    def walk(node):
        own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        yield own if node.get("Relation Name") == table and "Scan" in node["Node Type"] else 0
        for child in node.get("Plans", []):
            yield from walk(child)

    return sum(walk(plan))


@pytest.mark.parametrize("query", ["", "?endpoint=sendMessage"])
def test_a_page_of_the_delivery_log_reads_a_bounded_number_of_rows(volume, admin_client, settings, query):
    settings.ADMIN_LIST_COUNT_CAP = CAP
    total = Delivery.objects.count()
    assert total >= 20_000
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/communications/delivery/" + query)
    assert response.status_code == 200
    read = {q["sql"][:80]: _rows_read(q["sql"], None, "communications_delivery")
            for q in queries.captured_queries if "communications_delivery" in q["sql"]}
    # the capped count, the tenant choices from the latest rows, the page (100), the endpoint choices (a few lookups)
    assert sum(read.values()) <= CAP + 1 + TenantFilter.LATEST + 100 + 10, read
    page = response.content.decode()
    assert re.search(r"более\s+1[\s\xa0 ]?000", page), "the count says it stopped at the cap"
    assert "sendMessage" in page  # the endpoint filter still lists the endpoints


def test_below_the_cap_the_count_is_exact(admin_client, settings):
    settings.ADMIN_LIST_COUNT_CAP = CAP
    Delivery.objects.bulk_create([Delivery(kind=Delivery.Kind.CALLBACK, endpoint="notification.sent",
                                           url="https://crm.example/status", next_attempt_at=timezone.now())
                                  for _ in range(3)])
    response = admin_client.get("/admin/communications/delivery/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "более" not in page
    assert re.search(rf"\b3 {Delivery._meta.verbose_name_plural}", page), "the exact count, as Django writes it"
