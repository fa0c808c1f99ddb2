"""The outbox: enqueue calls, deliver one attempt, retry, sweep, cancel.

Life of a delivery (docs/provider-calls.md has the full story):

    pending ──claim──▶ in_progress ──2xx──▶ delivered
       ▲                   │ transient: network error, 408 / 425 / 429 / 5xx; ambiguous: read
       └──── backoff ──────┤ timeout, reset (receivers drop repeats by Idempotency-Key)
                           ├──▶ refused (permanent: other 4xx; `on_refused` handlers run)
                           └──▶ dead    (3xx, unsafe URL, attempts exhausted)
    pending / in_progress / dead ──moderator or deactivation──▶ cancelled
    dead / refused ──moderator retry──▶ pending (a fresh cycle of attempts)

Ordering: deliveries sharing (kind, tenant, provider, ordering_key) go out in id
order. A delivery waits while an earlier one of its chain is pending, in progress
or DEAD; delivered/refused/cancelled release it. A refused message call cancels the
calls about that message (its edit, its status), so an edit never overtakes its message.

Lock order (docs/provider-calls.md): provider → tenant configuration → token → accounts →
chats/messages → deliveries → initial sync. Recording an answer takes the first three as
shares before the delivery row, so a deactivation or uninstall runs before or after it.
"""

import base64
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from communications import clients
from communications.models import (
    Delivery,
    DeliveryAttempt,
    Provider,
    ProviderSigningSecret,
    TenantConfiguration,
)
from communications.models.providers import ALL_ENDPOINTS
from communications.provider_contract import answer_message_id
from config.api.errors import ApplicationError, ConflictError
from config.db import is_lock_race
from config.observability.metrics import delivery_send_observe
from config.observability.request_id import request_id_bind, request_id_get
from delivery import policy
from delivery.dispatch import dispatch
from delivery.outcomes import AMBIGUOUS, BROKEN, PERMANENT, SUCCESS, TRANSIENT, http_outcome

logger = logging.getLogger(__name__)

# Calls (and webhook events) still allowed after the tenant's configuration is disabled: they say goodbye.
FAREWELL_ENDPOINTS = ("disconnect", "deleteWebhook", "integration.deactivated")
PENDING_LIKE = (Delivery.Status.PENDING, Delivery.Status.IN_PROGRESS)

_on_delivered: dict[str, Callable[[Delivery], None]] = {}
_on_refused: dict[str, Callable[[Delivery], None]] = {}


def on_delivered_handler(name: str):
    """Register `func(delivery)` to run, in the transaction that marks a delivery
    delivered, for deliveries enqueued with `on_delivered=name`. The module that
    registers must be imported at startup (e.g. from AppConfig.ready)."""

    def register(func):
        _on_delivered[name] = func
        return func

    return register


def on_refused_handler(*endpoints: str):
    """Register `func(delivery)` to run, in the transaction that marks a delivery of one of
    `endpoints` refused (a permanent 4xx): e.g. fail the message and cancel the calls about it."""

    def register(func):
        for endpoint in endpoints:
            _on_refused[endpoint] = func
        return func

    return register


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
    if endpoint not in ALL_ENDPOINTS:
        raise ApplicationError(f"Неизвестный эндпоинт провайдера: {endpoint}", code="unknown_endpoint",
                               field="endpoint")
    if not tenant_configuration.is_active and endpoint not in FAREWELL_ENDPOINTS:
        raise ConflictError("Приложение провайдера отключено у тенанта: вызовы провайдера запрещены",
                            code="tenant_configuration_disabled")
    configuration = tenant_configuration.configuration
    url = _endpoint_url(configuration, endpoint)
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


def _create(*, kind, tenant_id, provider_id, ordering_key, **fields) -> Delivery:
    if ordering_key:
        _lock_chain(kind, tenant_id, provider_id, ordering_key)
    delivery = Delivery.objects.create(
        kind=kind, tenant_id=tenant_id, provider_id=provider_id, ordering_key=ordering_key,
        next_attempt_at=timezone.now(), request_id=request_id_get(),  # observability hook (issue 20)
        **fields,
    )
    _dispatch_on_commit(delivery.pk)
    return delivery


def chains_lock(*, tenant_configuration: TenantConfiguration, ordering_keys) -> None:
    """Take the chain locks of several ordering keys up front, in one global order.

    An action that queues calls on several chains (a broadcast) must not lock them one by one in
    the caller's order: two such actions listing the same chats in opposite orders deadlock. A lock
    already held is taken again at no cost, so `_create` below stays as it is.
    """
    for key in sorted({key for key in ordering_keys if key}):
        for kind in (Delivery.Kind.PROVIDER, Delivery.Kind.WEBHOOK):  # the order `_create` callers use
            _lock_chain(kind, tenant_configuration.tenant_id, tenant_configuration.provider_id, key)


def _lock_chain(kind, tenant_id, provider_id, ordering_key) -> None:
    """Serialise enqueuers of one chain until commit, so id order == commit order."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises all writers anyway
    digest = hashlib.blake2b(f"{kind}:{tenant_id}:{provider_id}:{ordering_key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


# --- dispatch --------------------------------------------------------------------

def _dispatch(delivery_id: int, countdown: float | None = None) -> bool:
    """Send the task to the broker (one fail-fast attempt). Never raises: the sweeper covers a failure."""
    from communications.tasks import delivery_send_task

    return dispatch(delivery_send_task, args=[delivery_id], countdown=countdown, queue=settings.DELIVERY_QUEUE,
                    on_failure=partial(_sweep_at_once, delivery_id), label=f"delivery {delivery_id}")


def _sweep_at_once(delivery_id: int) -> None:
    """After a failed dispatch, let the very next sweep take the row (no grace period): a row committed
    while the broker was down goes out one sweep interval after it returns, at the latest."""
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE), swept_at=None)


def _dispatch_on_commit(delivery_id: int, countdown: float | None = None) -> None:
    transaction.on_commit(partial(_dispatch, delivery_id, countdown), robust=True)


# --- one attempt -----------------------------------------------------------------

def delivery_send(*, delivery_id: int) -> str:
    """Make one attempt if the delivery is due and first in its chain. Safe to
    run twice or concurrently: returns a short outcome word."""
    claimed = _claim(delivery_id)
    if isinstance(claimed, str):
        return claimed
    delivery, number, started_at = claimed
    request_id_bind(delivery.request_id)  # observability hook (issue 20): logs and X-Request-Id of this attempt
    result, error = None, None
    try:
        result = clients.post_json(**_request_kwargs(delivery))
    except clients.OutboundCallError as exc:
        error = exc
    outcome = _record_until_stored(delivery, number, started_at, result, error)
    delivery_send_observe(delivery=delivery, outcome=outcome, result=result, started_at=started_at)  # issue 20 hook
    return outcome


def _record_until_stored(claimed: Delivery, number, started_at, result, error, *, tries: int = 3) -> str:
    """The provider has answered: store that even when PostgreSQL aborts `_record` to break a
    deadlock (it rolled back as a whole, so running it again is safe). Otherwise the delivery
    would wait for its lease to expire and be sent again."""
    for _ in range(tries - 1):
        try:
            return _record(claimed, number, started_at, result, error)
        except OperationalError as exc:
            if not is_lock_race(exc):
                raise
            logger.warning("delivery %s: recording the answer lost a lock race; recording again", claimed.pk)
    return _record(claimed, number, started_at, result, error)


def _max_attempts() -> int:
    return policy.max_attempts(Delivery.Kind.PROVIDER)


def _claim(delivery_id: int):
    with transaction.atomic():
        # One query: the row (locked) and what the attempt reads (tenant binding, provider, configuration).
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("tenant_configuration", "provider", "configuration")
                    .filter(pk=delivery_id).first())
        if delivery is None:
            return "locked"  # another worker holds it right now (or it never existed)
        if delivery.is_final:
            return "final"
        now = timezone.now()
        if delivery.status == Delivery.Status.IN_PROGRESS:
            if delivery.lease_expires_at and delivery.lease_expires_at > now:
                return "busy"
            # The worker that claimed it died mid-attempt: log that attempt and go again.
            _log_attempt(delivery, delivery.attempts, delivery.updated_at, DeliveryAttempt.Outcome.INTERRUPTED,
                         error="попытка прервана: воркер не завершил её до истечения аренды")
            if delivery.attempts >= _max_attempts():
                _finish(delivery, Delivery.Status.DEAD, "попытки исчерпаны (последняя прервана)")
                return "dead"
        elif delivery.next_attempt_at > now + timedelta(seconds=2):
            return "not_due"
        tenant_configuration = delivery.tenant_configuration
        if (tenant_configuration is not None and not tenant_configuration.is_active
                and delivery.endpoint not in FAREWELL_ENDPOINTS):
            _finish(delivery, Delivery.Status.CANCELLED, "приложение провайдера отключено у тенанта")
            return "cancelled"
        if delivery.endpoint not in FAREWELL_ENDPOINTS and _said_goodbye_since(delivery):
            _finish(delivery, Delivery.Status.CANCELLED, "после disconnect по тенанту ничего не отправляется")
            return "cancelled"
        if _blocked(delivery):
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=settings.DELIVERY_BLOCKED_RECHECK)
            delivery.lease_expires_at = None
            delivery.save(update_fields=["status", "next_attempt_at", "lease_expires_at", "updated_at"])
            return "blocked"
        _resolve_message_id(delivery)
        lease = settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT + settings.DELIVERY_LEASE_MARGIN
        delivery.status = Delivery.Status.IN_PROGRESS
        delivery.attempts += 1
        delivery.lease_expires_at = now + timedelta(seconds=lease)
        delivery.save(update_fields=["status", "attempts", "lease_expires_at", "updated_at"])
        return delivery, delivery.attempts, now


def _said_goodbye_since(delivery: Delivery) -> bool:
    """`disconnect` was queued for the tenant after this row: it belongs to an ended integration."""
    if delivery.provider_id is None:
        return False  # a notification status event: no integration
    return Delivery.objects.filter(tenant_id=delivery.tenant_id, provider_id=delivery.provider_id,
                                   kind=Delivery.Kind.PROVIDER, endpoint="disconnect", pk__gt=delivery.pk).exists()


def _resolve_message_id(delivery: Delivery) -> None:
    """A call about a message carries the provider's id once it is known: resolved when sent, not
    when queued (an edit queued while the sendMessage answer was being recorded missed it)."""
    payload = delivery.payload
    if (delivery.kind != Delivery.Kind.PROVIDER or not isinstance(payload, dict) or payload.get("messageId")
            or not payload.get("clientMessageId") or delivery.endpoint == "sendMessage"):
        return
    known = (_chain(delivery).filter(endpoint="sendMessage", status=Delivery.Status.DELIVERED, pk__lt=delivery.pk,
                                     payload__clientMessageId=payload["clientMessageId"])
             .exclude(provider_message_id="").values_list("provider_message_id", flat=True).first())
    if known:
        payload["messageId"] = known
        Delivery.objects.filter(pk=delivery.pk).update(payload=payload)


def _chain(delivery: Delivery):
    return Delivery.objects.filter(kind=delivery.kind, tenant_id=delivery.tenant_id,
                                   provider_id=delivery.provider_id, ordering_key=delivery.ordering_key)


def _blocked(delivery: Delivery) -> bool:
    if not delivery.ordering_key:
        return False
    return _chain(delivery).filter(pk__lt=delivery.pk).exclude(status__in=Delivery.RELEASING_STATUSES).exists()


def _request_kwargs(delivery: Delivery) -> dict:
    kwargs = {"url": delivery.url, "payload": delivery.payload, "idempotency_key": str(delivery.idempotency_key)}
    if delivery.kind == Delivery.Kind.WEBHOOK:
        kwargs["signing_secrets"] = [delivery.signing_secret]
        kwargs["extra_headers"] = {"X-SberCRM-Event": delivery.endpoint}
    elif delivery.kind == Delivery.Kind.CALLBACK:
        kwargs["signing_secrets"] = [delivery.signing_secret]
        # The documented webhook-id of a notification status event: `<notification id>:<event>`.
        kwargs["idempotency_key"] = f"{delivery.payload['data']['id']}:{delivery.endpoint}"
    else:
        kwargs.update(_provider_auth(provider=delivery.provider, configuration=delivery.configuration,
                                     tenant_id=delivery.tenant_id, endpoint=delivery.endpoint))
    return kwargs


def _provider_auth(*, provider, configuration, tenant_id, endpoint) -> dict:
    """API key, signature secrets and informational headers of a provider call."""
    return {
        "signing_secrets": provider_signing_secrets(provider=provider),
        "auth_header": configuration.auth_header,
        "auth_key": configuration.auth_key,
        "extra_headers": {"X-SberCRM-Endpoint": endpoint, "X-SberCRM-Tenant": str(tenant_id)},
    }


def _endpoint_url(configuration, endpoint: str) -> str:
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


def retry_delay(attempt: int, retry_after: float | None = None, kind: str = Delivery.Kind.PROVIDER) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): the engine's policy."""
    return policy.retry_delay(kind, attempt, retry_after)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - now).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _record(claimed: Delivery, number, started_at, result, error) -> str:
    kind, error_text = classify_call(result, error)
    with transaction.atomic():
        _lock_integration(claimed)
        delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("tenant_configuration")
                    .get(pk=claimed.pk))
        now = timezone.now()
        ours = delivery.status == Delivery.Status.IN_PROGRESS and delivery.attempts == number
        if result is not None:
            delivery.response_status = result.status_code
            delivery.response_excerpt = result.excerpt
        retryable = kind in (TRANSIENT, AMBIGUOUS)
        if kind == SUCCESS:
            outcome = DeliveryAttempt.Outcome.SUCCESS
        elif kind == PERMANENT:
            outcome = DeliveryAttempt.Outcome.REFUSED
        elif retryable and number < _max_attempts():
            outcome = DeliveryAttempt.Outcome.RETRY
        else:
            outcome = DeliveryAttempt.Outcome.FAILED
        _log_attempt(delivery, number, started_at, outcome, result=result, error=error_text)
        if not ours:
            # Cancelled meanwhile, or our lease expired and someone else took over.
            delivery.save(update_fields=["response_status", "response_excerpt", "updated_at"])
            return "superseded"
        delivery.lease_expires_at = None
        if kind == SUCCESS:
            delivery.response_json = result.json
            delivery.provider_message_id = answer_message_id(result.json)[:255]
            delivery.delivered_at = now
            delivery.last_error = ""
            _run_handler(delivery, _on_delivered, delivery.on_delivered, required=True)
            _finish(delivery, Delivery.Status.DELIVERED, delivery.last_error)
            return "delivered"
        if kind == PERMANENT:
            delivery.last_error = error_text
            if delivery.kind == Delivery.Kind.PROVIDER:
                _run_handler(delivery, _on_refused, delivery.endpoint, required=False)
            _finish(delivery, Delivery.Status.REFUSED, delivery.last_error)
            # A 4xx to a farewell is final and quiet: the provider has already forgotten the tenant.
            log = logger.info if delivery.endpoint in FAREWELL_ENDPOINTS else logger.warning
            log("delivery %s to %s refused: %s", delivery.pk, delivery.endpoint, error_text)
            return "refused"
        if outcome == DeliveryAttempt.Outcome.RETRY:
            retry_after = parse_retry_after(result.headers.get("Retry-After"), now) if result else None
            delay = retry_delay(number, retry_after, kind=delivery.kind)
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.last_error = error_text
            delivery.save()
            if delay <= settings.CELERY_MAX_COUNTDOWN:
                _dispatch_on_commit(delivery.pk, countdown=delay)
            # Longer waits: the sweeper sends it when next_attempt_at is due.
            return "retry"
        suffix = " (попытки исчерпаны)" if retryable else ""
        _finish(delivery, Delivery.Status.DEAD, error_text + suffix)
        logger.warning("delivery %s to %s is dead: %s", delivery.pk, delivery.endpoint, error_text)
        return "dead"


def _lock_integration(delivery: Delivery) -> None:
    """Share-lock the rows a deactivation or uninstall locks for update — provider, tenant
    configuration, active token — BEFORE the delivery row (the documented lock order). Recording an
    answer (channels, provider ids, the next call of the chain) then runs wholly before or after a
    deactivation instead of deadlocking with it."""
    if connection.vendor != "postgresql" or delivery.provider_id is None:
        return
    provider_id, tenant_configuration_id, tenant_id = (delivery.provider_id, delivery.tenant_configuration_id,
                                                       delivery.tenant_id)
    from communications.models import IntegrationToken

    for queryset, mode in (
        (Provider.objects.filter(pk=provider_id), "FOR KEY SHARE"),
        (TenantConfiguration.objects.filter(pk=tenant_configuration_id), "FOR SHARE"),
        (IntegrationToken.objects.filter(tenant_id=tenant_id, provider_id=provider_id,
                                         status=IntegrationToken.Status.ACTIVE).order_by("pk"), "FOR SHARE"),
    ):
        sql, params = queryset.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:  # Django has no FOR SHARE / FOR KEY SHARE
            cursor.execute(f"{sql} {mode}", params)


def _log_attempt(delivery, number, started_at, outcome, *, result=None, error="") -> None:
    DeliveryAttempt.objects.create(
        delivery=delivery, number=number, started_at=started_at, outcome=outcome,
        status_code=result.status_code if result else None, latency_ms=result.latency_ms if result else None,
        error=error[:2000],
    )


def _run_handler(delivery: Delivery, handlers: dict, name: str, *, required: bool) -> None:
    """Run a registered on_delivered / on_refused handler in a savepoint; a bug there never
    re-sends the call. `required`: a name without a registered handler is an error."""
    handler = handlers.get(name) if name else None
    if handler is None and not (name and required):
        return
    try:
        if handler is None:
            raise LookupError(f"обработчик {name!r} не зарегистрирован")
        with transaction.atomic():
            handler(delivery)
    except Exception as exc:
        if is_lock_race(exc):
            raise  # not a bug: `_record_until_stored` records the whole answer again
        # The provider got the call; a bug here must not re-send it. Keep it visible.
        logger.exception("delivery %s: handler %s failed", delivery.pk, name)
        delivery.last_error = f"{delivery.last_error}; обработчик ответа упал: {exc}".lstrip("; ")[:2000]


def _finish(delivery: Delivery, status: str, error: str = "") -> None:
    """Move to a final status; release the next delivery of the chain if allowed."""
    delivery.status = status
    delivery.lease_expires_at = None
    delivery.last_error = error
    delivery.save()
    if status in Delivery.RELEASING_STATUSES and delivery.ordering_key:
        following = (_chain(delivery).filter(pk__gt=delivery.pk, status=Delivery.Status.PENDING)
                     .order_by("pk").first())
        if following is not None and following.attempts == 0:
            Delivery.objects.filter(pk=following.pk).update(next_attempt_at=timezone.now())
            _dispatch_on_commit(following.pk)


# --- sweeper, moderation, deactivation ------------------------------------------

def deliveries_sweep(*, limit: int = 500) -> int:
    """Re-dispatch deliveries that are due but have no live task: written while the
    broker was down, waiting longer than a countdown may, or stuck in progress
    after a worker died. Returns how many were dispatched."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE)
    due = (Q(status=Delivery.Status.PENDING, next_attempt_at__lte=grace)
           | Q(status=Delivery.Status.IN_PROGRESS, lease_expires_at__lte=now))
    # Once per grace period per row, so a long broker backlog is not flooded with duplicates.
    not_recently_swept = Q(swept_at__isnull=True) | Q(swept_at__lte=grace)
    ids = list(Delivery.objects.filter(due & not_recently_swept).order_by("next_attempt_at", "pk")
               .values_list("pk", flat=True)[:limit])
    # Mark first: an UPDATE after dispatching could hold the row lock just when the task's
    # SKIP LOCKED claim runs, and the task would give up ("locked") until the next sweep.
    Delivery.objects.filter(pk__in=ids).update(swept_at=now)
    failed = [pk for pk in ids if not _dispatch(pk)]
    if failed:
        Delivery.objects.filter(pk__in=failed).update(swept_at=None)
    return len(ids) - len(failed)


@transaction.atomic
def delivery_retry(*, delivery_id: int) -> Delivery:
    """Moderator: give a dead or refused delivery a fresh cycle of attempts."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status not in (Delivery.Status.DEAD, Delivery.Status.REFUSED):
        raise ConflictError("Повторить можно только недоставленную или отклонённую доставку", code="delivery_not_dead")
    delivery.status = Delivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save()
    _dispatch_on_commit(delivery.pk)
    return delivery


@transaction.atomic
def delivery_cancel(*, delivery_id: int, reason: str = "отменена модератором") -> Delivery:
    """Moderator: stop a pending, in-progress or dead delivery (releases its chain)."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status in (Delivery.Status.DELIVERED, Delivery.Status.REFUSED, Delivery.Status.CANCELLED):
        raise ConflictError("Доставка уже завершена", code="delivery_final")
    _finish(delivery, Delivery.Status.CANCELLED, reason)
    return delivery


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
    client, headers, auth and signature as outbox deliveries."""
    configuration = tenant_configuration.configuration
    return clients.post_json(
        url=_endpoint_url(configuration, endpoint), payload=payload, idempotency_key=idempotency_key,
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
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    ProviderSigningSecret.objects.create(provider=provider, secret=secret)
    return secret


def provider_signing_secrets(*, provider: Provider) -> list[str]:
    """Secrets to sign with, newest first. Issues one if the provider has none."""
    now = timezone.now()
    current = list(ProviderSigningSecret.objects.filter(provider=provider)
                   .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                   .order_by("-created_at").values_list("secret", flat=True))
    if not current:
        logger.warning("provider %s had no signing secret; issued one (show it via the admin rotation)",
                       provider.code)
        current = [provider_signing_secret_issue(provider=provider)]
    return current


# --- health (read) -----------------------------------------------------------------

def provider_health_annotate(queryset, *, since: datetime):
    """Annotate providers with recent attempt counts, backlog and the last failed
    attempt for the admin, in the one list query (no query per row)."""
    recent = Q(deliveries__attempt_log__started_at__gte=since)
    failed = (DeliveryAttempt.objects.filter(delivery__provider=OuterRef("pk"))
              .exclude(outcome=DeliveryAttempt.Outcome.SUCCESS).order_by("-started_at", "-pk"))

    def backlog(status):
        rows = (Delivery.objects.filter(provider=OuterRef("pk"), status=status).order_by()
                .values("provider").annotate(n=Count("pk")).values("n"))
        return Coalesce(Subquery(rows), 0)

    return queryset.annotate(
        attempts_recent=Count("deliveries__attempt_log", filter=recent),
        successes_recent=Count("deliveries__attempt_log",
                               filter=recent & Q(deliveries__attempt_log__outcome=DeliveryAttempt.Outcome.SUCCESS)),
        last_attempt_at=Max("deliveries__attempt_log__started_at"),
        backlog_pending=backlog(Delivery.Status.PENDING),
        backlog_in_progress=backlog(Delivery.Status.IN_PROGRESS),
        backlog_dead=backlog(Delivery.Status.DEAD),
        last_error_at=Subquery(failed.values("started_at")[:1]),
        last_error_delivery_id=Subquery(failed.values("delivery_id")[:1]),
        last_error_endpoint=Subquery(failed.values("delivery__endpoint")[:1]),
        last_error_text=Subquery(failed.values("error")[:1]),
    )
