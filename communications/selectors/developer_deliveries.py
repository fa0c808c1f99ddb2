"""The delivery log as a provider's developer sees it (read-only; retries and cancels go through the engine).

Only rows of the given provider codes are visible; anything else is «not found». Request headers are
rebuilt from the row as `communications.clients.post_json` sends them, with the API key, the signatures
and the webhook secret masked (they are never shown back).
"""

from django.db.models import Prefetch

from communications.clients import USER_AGENT
from communications.models import Delivery, DeliveryAttempt
from communications.provider_contract import masked_payload
from config.errors import NotFoundError

MASK = "****"


def _masked(value: str) -> str:
    return MASK + value[-4:] if value and len(value) > 8 else MASK


def developer_delivery_list(*, provider_codes, app: str | None = None, tenant_ids=None, exclude_tenant_ids=None,
                            endpoint: str | None = None, status: str | None = None, kind: str | None = None,
                            since=None, until=None):
    """Newest first, attempts prefetched. `tenant_ids` keeps only these tenants, `exclude_tenant_ids` drops them."""
    queryset = Delivery.objects.filter(provider__code__in=list(provider_codes))
    if app:
        queryset = queryset.filter(provider__code=app)
    if tenant_ids is not None:
        queryset = queryset.filter(tenant_id__in=list(tenant_ids))
    if exclude_tenant_ids:
        queryset = queryset.exclude(tenant_id__in=list(exclude_tenant_ids))
    for field, value in (("endpoint", endpoint), ("status", status), ("kind", kind), ("created_at__gte", since),
                         ("created_at__lt", until)):
        if value:
            queryset = queryset.filter(**{field: value})
    attempts = Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number", "started_at"))
    return queryset.select_related("provider", "configuration").prefetch_related(attempts).order_by("-id")


def developer_delivery_get(*, provider_codes, delivery_id: int) -> Delivery:
    delivery = developer_delivery_list(provider_codes=provider_codes).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFoundError(f"Вызов #{delivery_id} не найден.", code="delivery_not_found", field="deliveryId")
    return delivery


def request_headers(delivery: Delivery) -> dict[str, str]:
    """The headers every attempt of this call carries; secrets masked, per-attempt values named."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": str(delivery.idempotency_key),
        "webhook-id": str(delivery.idempotency_key),
        "webhook-timestamp": "<время попытки, Unix-секунды>",
        "webhook-signature": f"v1,{MASK}",
    }
    if delivery.request_id:
        headers["X-Request-Id"] = delivery.request_id
    if delivery.kind == Delivery.Kind.WEBHOOK:
        headers["X-SberCRM-Event"] = delivery.endpoint
    else:
        headers["X-SberCRM-Endpoint"] = delivery.endpoint
        headers["X-SberCRM-Tenant"] = str(delivery.tenant_id)
        configuration = delivery.configuration
        if configuration is not None and configuration.auth_header and configuration.auth_key:
            headers[configuration.auth_header] = _masked(configuration.auth_key)
    return headers


def developer_delivery_view(delivery: Delivery, *, sandbox_tenant_ids=()) -> dict:
    """The API shape of one call with its attempts."""
    return {
        "id": delivery.pk,
        "kind": delivery.kind,
        "appCode": delivery.provider.code,
        "tenantId": str(delivery.tenant_id),
        "environment": "sandbox" if delivery.tenant_id in set(sandbox_tenant_ids) else "production",
        "endpoint": delivery.endpoint,
        "url": delivery.url,
        "status": delivery.status,
        "attemptsInCycle": delivery.attempts,
        "nextAttemptAt": delivery.next_attempt_at if not delivery.is_final else None,
        "lastError": delivery.last_error,
        "responseStatus": delivery.response_status,
        "responseExcerpt": delivery.response_excerpt[:1000],
        "requestHeaders": request_headers(delivery),
        "requestBody": masked_payload(delivery.payload),
        "createdAt": delivery.created_at,
        "deliveredAt": delivery.delivered_at,
        "canRetry": delivery.status in (Delivery.Status.DEAD, Delivery.Status.REFUSED),
        "canCancel": delivery.status in (Delivery.Status.PENDING, Delivery.Status.IN_PROGRESS, Delivery.Status.DEAD),
        "attempts": [
            {"number": attempt.number, "startedAt": attempt.started_at, "outcome": attempt.outcome,
             "statusCode": attempt.status_code, "durationMs": attempt.latency_ms, "error": attempt.error[:1000]}
            for attempt in delivery.attempt_log.all()
        ],
    }
