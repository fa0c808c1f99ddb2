"""Provider calls, provider webhooks and notification status events: queuing them, and the three kinds
the delivery engine sends them as (`delivery/engine.py` owns the row's life; docs/provider-calls.md).

Ordering: calls sharing (kind, tenant, provider, ordering_key) go out in id order; delivered, refused
and cancelled release the next one, a dead one holds it. A refused message call cancels the calls about
that message (its edit, its status), so an edit never overtakes its message.

Lock order (docs/provider-calls.md): provider → tenant configuration → token → accounts →
chats/messages → deliveries → initial sync; an operator action in a chat takes the chat's chain lock before
its messages (the one exception). Recording an answer takes the first three as shares before the delivery row,
so a deactivation or uninstall runs before or after it.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from communications import clients
from communications import endpoints as provider_endpoints
from communications.models import (
    Delivery,
    DeliveryAttempt,
    Provider,
    ProviderSigningSecret,
    TenantConfiguration,
)
from communications.provider_contract import answer_message_id
from communications.services import sandbox_limits
from config.errors import ApplicationError, ConflictError
from config.observability.request_id import request_id_get
from delivery import engine
from delivery.engine import parse_retry_after
from delivery.kinds import Attempt, Kind, LockSql, register
from delivery.outcomes import BROKEN, SUCCESS, TRANSIENT, http_outcome

logger = logging.getLogger(__name__)

# Calls (and webhook events) still allowed after the tenant's configuration is disabled: they say goodbye.
FAREWELL_ENDPOINTS = ("disconnect", "deleteWebhook", "integration.deactivated")
PENDING_LIKE = (Delivery.Status.PENDING, Delivery.Status.IN_PROGRESS)

_on_refused: dict[str, Callable[[Delivery], None]] = {}


def on_refused_handler(*endpoints: str):
    """Register `func(delivery)` to run, in the transaction that marks a delivery of one of
    `endpoints` refused (a permanent 4xx): e.g. fail the message and cancel the calls about it."""

    def register_handler(func):
        for endpoint in endpoints:
            _on_refused[endpoint] = func
        return func

    return register_handler


# --- enqueue ---------------------------------------------------------------------

@transaction.atomic
def delivery_enqueue(
    *,
    tenant_configuration: TenantConfiguration,
    endpoint: str,
    payload: dict | list,
    ordering_key: str = "",
    on_delivered: str = "",
) -> Delivery:
    """Queue a call of the provider `endpoint` for this tenant, using the
    configuration bound to the tenant now. Written in the caller's transaction,
    dispatched to Celery after commit."""
    if provider_endpoints.endpoint_get(endpoint) is None:
        raise ApplicationError(f"Неизвестный эндпоинт провайдера: {endpoint}", code="unknown_endpoint",
                               field="endpoint")
    if not tenant_configuration.is_active and endpoint not in FAREWELL_ENDPOINTS:
        raise ConflictError("Приложение провайдера отключено у тенанта: вызовы провайдера запрещены",
                            code="tenant_configuration_disabled")
    configuration = tenant_configuration.configuration
    url = configured_endpoint_url(configuration, endpoint)
    return _create(kind=Delivery.Kind.PROVIDER, **_integration(tenant_configuration),
                   configuration=configuration, endpoint=endpoint, url=url, payload=payload,
                   ordering_key=ordering_key, on_delivered=on_delivered)


@transaction.atomic
def delivery_enqueue_webhook(
    *,
    tenant_configuration: TenantConfiguration,
    url: str,
    secret: str,
    event: str,
    payload: dict | list,
    ordering_key: str = "",
) -> Delivery:
    """Queue a webhook event for a provider-registered URL, signed with `secret`."""
    if not tenant_configuration.is_active and event not in FAREWELL_ENDPOINTS:
        raise ConflictError("Приложение провайдера отключено у тенанта", code="tenant_configuration_disabled")
    return _create(kind=Delivery.Kind.WEBHOOK, **_integration(tenant_configuration), configuration=None,
                   endpoint=event, url=url, payload=payload, ordering_key=ordering_key, signing_secret=secret)


def delivery_enqueue_callback(*, url: str, secret: str, event: str, payload: dict, event_key: uuid.UUID,
                              ordering_key: str) -> Delivery | None:
    """Queue a signed status event of the notification service to the caller's callback URL.

    `event_key` is the event's identity (one per notification and event): queuing it again is a no-op
    and returns None. Callbacks have no tenant and no provider; everything else is the engine's.
    """
    if Delivery.objects.filter(idempotency_key=event_key).exists():
        return None
    try:
        with transaction.atomic():
            return _create(kind=Delivery.Kind.CALLBACK, tenant_id=None, provider_id=None, tenant_configuration=None,
                           configuration=None, endpoint=event, url=url, payload=payload, ordering_key=ordering_key,
                           signing_secret=secret, idempotency_key=event_key)
    except IntegrityError:  # queued concurrently by another process
        return None


def _integration(tenant_configuration: TenantConfiguration) -> dict:
    return {"tenant_id": tenant_configuration.tenant_id, "provider_id": tenant_configuration.provider_id,
            "tenant_configuration": tenant_configuration}


def _create(**fields) -> Delivery:
    return engine.delivery_create(request_id=request_id_get(), **fields)  # request id: issue 20


def chains_lock(*, tenant_configuration: TenantConfiguration, ordering_keys) -> None:
    """Take the chain locks of several ordering keys up front, in one global order.

    An action that queues calls on several chains (a broadcast) must not lock them one by one in
    the caller's order: two such actions listing the same chats in opposite orders deadlock. A lock
    already held is taken again at no cost, so `_create` below stays as it is.
    """
    for key in sorted({key for key in ordering_keys if key}):
        for kind in (Delivery.Kind.PROVIDER, Delivery.Kind.WEBHOOK):  # the order `_create` callers use
            engine.chain_lock(kind, tenant_configuration.tenant_id, tenant_configuration.provider_id, key)


# --- the kinds: build the request, make the call, classify the answer ----------------

class _HttpKind(Kind):
    """A signed JSON POST through the hardened client; the receiver drops repeats by Idempotency-Key."""

    def request_kwargs(self, delivery: Delivery) -> dict:
        return {"url": delivery.url, "payload": delivery.payload, "idempotency_key": str(delivery.idempotency_key),
                "signing_secrets": [delivery.signing_secret]}

    def send(self, delivery: Delivery) -> Attempt:
        return call_attempt(lambda: clients.post_json(**self.request_kwargs(delivery)))


class _IntegrationKind(_HttpKind):
    """Calls about one tenant's integration (provider endpoints, its webhooks): stopped once the app is
    off or `disconnect` was queued, recorded in the integration's lock order."""

    def claim_annotations(self) -> dict:
        return _said_goodbye_annotation()

    def claim_ready(self):
        """`_integration_gate` lets the row through: a farewell, or the binding active (or none) and no
        `disconnect` queued after the row."""
        active = Exists(TenantConfiguration.objects.filter(pk=OuterRef("tenant_configuration_id"),
                                                           status=TenantConfiguration.Status.ACTIVE))
        bound = Q(tenant_configuration__isnull=True) | Q(active)
        goodbye = _said_goodbye_annotation()["said_goodbye"]
        return ExpressionWrapper(Q(endpoint__in=FAREWELL_ENDPOINTS) | (bound & ~Q(goodbye)), output_field=BooleanField())

    def gate(self, delivery: Delivery) -> str | None:
        return _integration_gate(delivery)

    def lock_sql(self, delivery: Delivery) -> LockSql:
        return integration_lock_sql(delivery)

    def quiet_refusal(self, delivery: Delivery) -> bool:
        return delivery.endpoint in FAREWELL_ENDPOINTS  # the provider has already forgotten the tenant


@register
class _ProviderKind(_IntegrationKind):
    name = Delivery.Kind.PROVIDER

    def claim_annotations(self) -> dict:
        """The gate's facts and, on PostgreSQL, the provider's current signing secrets (the call then reads none)."""
        annotations = super().claim_annotations()
        if connection.vendor == "postgresql":
            current = (ProviderSigningSecret.objects.filter(provider=OuterRef("provider_id"))
                       .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=Now())).order_by("-created_at"))
            annotations["current_signing_secrets"] = ArraySubquery(current.values("secret"))
        return annotations

    def request_kwargs(self, delivery: Delivery) -> dict:
        return {"url": delivery.url, "payload": delivery.payload, "idempotency_key": str(delivery.idempotency_key),
                **_provider_auth(provider=delivery.provider, configuration=delivery.configuration,
                                 tenant_id=delivery.tenant_id, endpoint=delivery.endpoint,
                                 secrets=getattr(delivery, "current_signing_secrets", None))}

    def prepare(self, delivery: Delivery) -> None:
        _resolve_message_id(delivery)

    def on_refused(self, delivery: Delivery, attempt: Attempt) -> None:
        handler = _on_refused.get(delivery.endpoint)
        if handler is not None:
            handler(delivery)


@register
class _WebhookKind(_IntegrationKind):
    name = Delivery.Kind.WEBHOOK

    def request_kwargs(self, delivery: Delivery) -> dict:
        return {**super().request_kwargs(delivery), "extra_headers": {"X-SberCRM-Event": delivery.endpoint}}


@register
class _CallbackKind(_HttpKind):
    """Status events of the notification service (no tenant, no provider)."""

    name = Delivery.Kind.CALLBACK

    def request_kwargs(self, delivery: Delivery) -> dict:
        # The documented webhook-id of a notification status event: `<notification id>:<event>`.
        return {**super().request_kwargs(delivery),
                "idempotency_key": f"{delivery.payload['data']['id']}:{delivery.endpoint}"}


def _said_goodbye_annotation() -> dict:
    """`disconnect` was queued for the tenant after this row: it belongs to an ended integration."""
    later_disconnect = Delivery.objects.filter(tenant_id=OuterRef("tenant_id"), provider_id=OuterRef("provider_id"),
                                               kind=Delivery.Kind.PROVIDER, endpoint="disconnect",
                                               pk__gt=OuterRef("pk"))
    return {"said_goodbye": Exists(later_disconnect)}


def _integration_gate(delivery: Delivery) -> str | None:
    tenant_configuration = delivery.tenant_configuration
    if (tenant_configuration is not None and not tenant_configuration.is_active
            and delivery.endpoint not in FAREWELL_ENDPOINTS):
        engine.finish(delivery, Delivery.Status.CANCELLED, "приложение провайдера отключено у тенанта")
        return "cancelled"
    if delivery.endpoint not in FAREWELL_ENDPOINTS and delivery.said_goodbye:
        engine.finish(delivery, Delivery.Status.CANCELLED, "после disconnect по тенанту ничего не отправляется")
        return "cancelled"
    return None


def _resolve_message_id(delivery: Delivery) -> None:
    """A call about a message carries the provider's id once it is known: resolved when sent, not
    when queued (an edit queued while the sendMessage answer was being recorded missed it)."""
    payload = delivery.payload
    if (not isinstance(payload, dict) or payload.get("messageId") or not payload.get("clientMessageId")
            or delivery.endpoint == "sendMessage"):
        return
    known = (engine.chain(delivery).filter(endpoint="sendMessage", status=Delivery.Status.DELIVERED,
                                           pk__lt=delivery.pk, payload__clientMessageId=payload["clientMessageId"])
             .exclude(provider_message_id="").values_list("provider_message_id", flat=True).first())
    if known:
        payload["messageId"] = known
        Delivery.objects.filter(pk=delivery.pk).update(payload=payload)


def _provider_auth(*, provider, configuration, tenant_id, endpoint, secrets: list[str] | None = None) -> dict:
    """API key, signature secrets and informational headers of a provider call. `secrets`: the current ones,
    read already (the claim's)."""
    return {
        "signing_secrets": provider_signing_secrets(provider=provider, current=secrets),
        "auth_header": configuration.auth_header,
        "auth_key": configuration.auth_key,
        "extra_headers": {"X-SberCRM-Endpoint": endpoint, "X-SberCRM-Tenant": str(tenant_id)},
    }


def configured_endpoint_url(configuration, endpoint: str) -> str:
    """The URL of a configured endpoint; a 4xx `endpoint_not_configured` when the configuration has none."""
    url = configuration.endpoint_url(endpoint)
    if not url:
        raise ApplicationError(f"В конфигурации провайдера не задан эндпоинт {endpoint}",
                               code="endpoint_not_configured", field="endpoint")
    return url


def classify_call(result: clients.CallResult | None, error: Exception | None) -> tuple[str, str]:
    """(outcome, error text) by the engine's one classification (delivery/outcomes.py). Providers and
    webhook receivers drop repeats by Idempotency-Key, so AMBIGUOUS is retried like TRANSIENT."""
    if error is not None:
        return (TRANSIENT if error.retryable else BROKEN), str(error)
    outcome = http_outcome(result.status_code)
    if outcome == SUCCESS:
        return SUCCESS, ""
    if outcome == BROKEN:
        return BROKEN, f"HTTP {result.status_code}: перенаправление на {result.headers.get('Location', '?')} не выполняется"
    return outcome, f"HTTP {result.status_code}: {result.excerpt[:500]}"


def call_attempt(call: Callable[[], clients.CallResult]) -> Attempt:
    """Make one signed call (`clients.post_json`, `provider_call_now`) and classify its answer for the
    engine. `Attempt.response` is the `CallResult` (None when there was no answer)."""
    try:
        result = call()
    except clients.OutboundCallError as exc:
        return Attempt(TRANSIENT if exc.retryable else BROKEN, error=str(exc))
    outcome, error = classify_call(result, None)
    retry_after = parse_retry_after(result.headers.get("Retry-After"), timezone.now())
    success = outcome == SUCCESS
    return Attempt(outcome, error=error, status_code=result.status_code, latency_ms=result.latency_ms,
                   retry_after=retry_after, excerpt=result.excerpt, response_json=result.json if success else None,
                   external_id=answer_message_id(result.json) if success else "", response=result)


def integration_lock_sql(delivery: Delivery) -> LockSql:
    """Share-lock the rows a deactivation or uninstall locks for update — provider, tenant configuration, active
    token — BEFORE the delivery row (the documented lock order), as CTEs (PostgreSQL; `Kind.lock_sql`: taken by
    `Kind.lock` or inside the one-statement record of a success). Recording an answer (channels, provider ids, the
    next call of the chain) then runs wholly before or after a deactivation instead of deadlocking with it. Each
    lock's query waits for the one before it (an uncorrelated subquery of the CTE before: a one-time filter, run
    before its own rows are read), so the rows are locked in this order. Django has no FOR SHARE."""
    from communications.models import IntegrationToken

    tables = (Provider._meta.db_table, TenantConfiguration._meta.db_table, IntegrationToken._meta.db_table)
    return LockSql(
        "provider AS (SELECT 1 FROM {} WHERE id = %s FOR KEY SHARE), "  # noqa: S608 (model tables; values bound)
        "binding AS (SELECT 1 FROM {} WHERE id = %s AND (SELECT count(*) FROM provider) >= 0 FOR SHARE), "
        # the status in the text: a generic plan may then read the one active token by its partial unique index
        "token AS (SELECT 1 FROM {} WHERE tenant_id = %s AND provider_id = %s AND status = '{}' "
        "AND (SELECT count(*) FROM binding) >= 0 ORDER BY id FOR SHARE)".format(*tables, IntegrationToken.Status.ACTIVE.value),
        [delivery.provider_id, delivery.tenant_configuration_id, delivery.tenant_id, delivery.provider_id], "token")


# --- deactivation --------------------------------------------------------------------

@transaction.atomic
def deliveries_cancel_pending(*, tenant_id, provider: Provider, reason: str, include_dead: bool = False) -> int:
    """Cancel every not-yet-sent delivery (provider calls and webhooks) of a
    tenant for a provider. Used when the token or the app is deactivated;
    `include_dead` also cancels dead ones, so they no longer block their chains."""
    statuses = (*PENDING_LIKE, Delivery.Status.DEAD) if include_dead else PENDING_LIKE
    return (Delivery.objects
            .filter(tenant_id=tenant_id, provider=provider, status__in=statuses)
            .update(status=Delivery.Status.CANCELLED, last_error=reason, lease_expires_at=None,
                    updated_at=timezone.now()))


def provider_call_now(*, tenant_configuration: TenantConfiguration, endpoint: str, payload: dict | list,
                      idempotency_key: str) -> clients.CallResult:
    """A synchronous call outside the outbox, for tasks that need the answer at
    once and are resumable themselves (e.g. paging getMessageHistory). Same
    client, headers, auth and signature as outbox deliveries. A history page (the sync's, the test stand's) may
    answer up to INITIAL_SYNC_MAX_ANSWER_BYTES; every other answer is capped at the client's 1 MiB."""
    configuration = tenant_configuration.configuration
    history = endpoint == "getMessageHistory"
    return clients.post_json(
        url=configured_endpoint_url(configuration, endpoint), payload=payload, idempotency_key=idempotency_key,
        max_bytes=settings.INITIAL_SYNC_MAX_ANSWER_BYTES if history else clients.MAX_BODY_BYTES,
        **_provider_auth(provider=tenant_configuration.provider, configuration=configuration,
                         tenant_id=tenant_configuration.tenant_id, endpoint=endpoint),
    )


# --- signing secrets ---------------------------------------------------------------

SIGNING_SECRET_OVERLAP = timedelta(hours=24)


@transaction.atomic
def provider_signing_secret_issue(*, provider: Provider, overlap: timedelta = SIGNING_SECRET_OVERLAP) -> str:
    """Issue a new `whsec_` secret and return it: the only time it is shown.
    Older secrets keep signing (a second signature) for `overlap`. Rotations of one provider
    run one after another (the provider row is locked)."""
    Provider.objects.select_for_update().filter(pk=provider.pk).exists()
    now = timezone.now()
    ProviderSigningSecret.objects.filter(provider=provider).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now + overlap)).update(expires_at=now + overlap)
    secret = clients.webhook_secret_generate()
    ProviderSigningSecret.objects.create(provider=provider, secret=secret)
    return secret


def provider_signing_secrets(*, provider: Provider, current: list[str] | None = None) -> list[str]:
    """Secrets to sign with, newest first (a read: registration issues the first one, rotation the next).
    None current: the call is not made unsigned, it fails as broken until a moderator issues one.
    `current`: the ones the claim read (`_ProviderKind.claim_annotations`): no query."""
    if current is None:
        # Plain SQL, without the ORM's ~0.4 ms of building and compiling (issue 19).
        table = ProviderSigningSecret._meta.db_table
        sql = (f"SELECT secret FROM {table} WHERE provider_id = %s AND (expires_at IS NULL OR expires_at > %s) "  # noqa: S608 (the model's table; values bound)
               "ORDER BY created_at DESC")
        with connection.cursor() as cursor:
            cursor.execute(sql, [provider.pk, connection.ops.adapt_datetimefield_value(timezone.now())])
            current = [secret for (secret,) in cursor.fetchall()]
    if not current:
        raise clients.SigningSecretMissing(
            "у провайдера нет действующего секрета подписи: выпустите новый (админка, провайдеры, «Выпустить новый "
            "секрет подписи»)")
    return current


# --- health (read) -----------------------------------------------------------------

HEALTH_KINDS = (Delivery.Kind.PROVIDER, Delivery.Kind.WEBHOOK)


def provider_health_annotate(queryset, *, since: datetime):
    """Annotate providers with recent attempt counts, backlog and the last failed
    attempt for the admin, in the one list query (no query per row)."""
    # The provider's own endpoints and webhooks: a test-stand run or a sync page is not what health measures
    # (a failing verdict is a successful call; an interrupted run is not the provider's error).
    # Customers' tenants only: a developer's sandbox is not production health.
    sandboxes = sandbox_limits.sandbox_tenants()
    calls = Q(deliveries__kind__in=HEALTH_KINDS) & ~Q(deliveries__tenant_id__in=sandboxes)
    recent = calls & Q(deliveries__attempt_log__started_at__gte=since)
    failed = (DeliveryAttempt.objects.filter(delivery__provider=OuterRef("pk"), delivery__kind__in=HEALTH_KINDS)
              .exclude(delivery__tenant_id__in=sandboxes)
              .exclude(outcome=DeliveryAttempt.Outcome.SUCCESS).order_by("-started_at", "-pk"))

    def backlog(status):
        rows = (Delivery.objects.filter(provider=OuterRef("pk"), status=status, kind__in=HEALTH_KINDS)
                .exclude(tenant_id__in=sandboxes).order_by()
                .values("provider").annotate(n=Count("pk")).values("n"))
        return Coalesce(Subquery(rows), 0)

    return queryset.annotate(
        attempts_recent=Count("deliveries__attempt_log", filter=recent),
        successes_recent=Count("deliveries__attempt_log",
                               filter=recent & Q(deliveries__attempt_log__outcome=DeliveryAttempt.Outcome.SUCCESS)),
        last_attempt_at=Max("deliveries__attempt_log__started_at", filter=calls),
        backlog_pending=backlog(Delivery.Status.PENDING),
        backlog_in_progress=backlog(Delivery.Status.IN_PROGRESS),
        backlog_dead=backlog(Delivery.Status.DEAD),
        last_error_at=Subquery(failed.values("started_at")[:1]),
        last_error_delivery_id=Subquery(failed.values("delivery_id")[:1]),
        last_error_endpoint=Subquery(failed.values("delivery__endpoint")[:1]),
        last_error_text=Subquery(failed.values("error")[:1]),
    )
