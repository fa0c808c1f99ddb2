"""Reads of the outbox for the moderators' dashboard and admin filters.

Developers' sandbox tenants are left out: they are not customers (issue 17; the admin lists that the
dashboard links to leave them out by default too, communications/admin/filters.py)."""

from datetime import datetime

from django.db import connections, router
from django.db.models import Exists, OuterRef, Q

from communications.models import Delivery, IntegrationToken, Provider
from communications.services.sandbox_limits import sandbox_tenants

# Undelivered and given up on, or waiting for another try after a failed attempt.
FAILING = Q(status=Delivery.Status.DEAD) | Q(status=Delivery.Status.PENDING, attempts__gt=0)


def provider_failing_list():
    """Providers that have deliveries failing right now (dead or being retried)."""
    failing = Delivery.objects.filter(FAILING, provider=OuterRef("pk")).exclude(tenant_id__in=sandbox_tenants())
    return Provider.objects.filter(Exists(failing))


def delivery_dead_list(*, since: datetime):
    """Deliveries that went dead (last changed) since `since`."""
    return (Delivery.objects.filter(status=Delivery.Status.DEAD, updated_at__gte=since)
            .exclude(tenant_id__in=sandbox_tenants()))


def tenant_with_active_integration_count() -> int:
    """Tenants with at least one active integration token (an activated integration)."""
    return (IntegrationToken.objects.filter(status=IntegrationToken.Status.ACTIVE)
            .exclude(tenant_id__in=sandbox_tenants()).values("tenant_id").distinct().count())


def delivery_endpoints() -> list[str]:
    """The endpoints and events in the delivery log (the admin's filter), in order. Each is found by one step down
    `delivery_endpoint_idx` from the one before (a loose index scan: a recursive query, which Django cannot write), so
    it costs as many index lookups as there are names; a DISTINCT read every row of the log (issue 19)."""
    connection = connections[router.db_for_read(Delivery)]
    table, endpoint = connection.ops.quote_name(Delivery._meta.db_table), connection.ops.quote_name("endpoint")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE names(name) AS (SELECT MIN({endpoint}) FROM {table} "  # noqa: S608 (the model's names)
            f"UNION ALL SELECT (SELECT MIN({endpoint}) FROM {table} WHERE {endpoint} > names.name) FROM names "
            f"WHERE names.name IS NOT NULL) SELECT name FROM names WHERE name IS NOT NULL")
        return [name for (name,) in cursor.fetchall()]
