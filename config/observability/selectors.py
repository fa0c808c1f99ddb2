"""Reads for the scrape-time gauges (config/observability/collectors.py)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from communications.models import Delivery


@dataclass(frozen=True)
class KindBacklog:
    kind: str
    pending: int  # waiting to be sent: pending or in progress
    dead: int
    oldest_pending_age: float  # seconds since the oldest waiting delivery was created; 0 when none


def delivery_backlog_by_kind(*, now: datetime | None = None) -> list[KindBacklog]:
    """Pending/dead counts and the oldest pending age per kind, in one query. Every kind is listed."""
    now = now or timezone.now()
    waiting = Q(status__in=(Delivery.Status.PENDING, Delivery.Status.IN_PROGRESS))
    rows = {row["kind"]: row for row in (
        Delivery.objects.filter(waiting | Q(status=Delivery.Status.DEAD)).order_by().values("kind")
        .annotate(pending=Count("pk", filter=waiting), dead=Count("pk", filter=Q(status=Delivery.Status.DEAD)),
                  oldest=Min("created_at", filter=waiting)))}
    result = []
    for kind in Delivery.Kind.values:
        row = rows.get(kind, {})
        oldest = row.get("oldest")
        result.append(KindBacklog(kind=kind, pending=row.get("pending", 0), dead=row.get("dead", 0),
                                  oldest_pending_age=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0))
    return result
