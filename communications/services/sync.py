"""The integration's life towards the provider: activation, initial sync, farewell.

Activation (`integration_activate`, from the token-activated hook):
1. the main account is created/activated (tokens.py does it);
2. `getChannels` is queued in the outbox (lifecycle chain); its answer creates or activates
   a channel + child account per channel (`channels.activate` handler);
3. if `getMessageHistory` is configured, an InitialSync row is set to `waiting`; the
   `getChannels` answer starts it (chats reference channels, so channels come first);
4. if `setWebhook` is configured, it is queued with the URL of our public API.

Farewell (`integration_farewell`, from token deactivation and from the app being disabled):
pending/dead deliveries and the initial sync are cancelled, then the webhook event
`integration.deactivated`, `deleteWebhook` (if configured) and `disconnect` are queued.

The initial sync pages through `getMessageHistory` with a synchronous call (the answer is
needed at once). Each page is fetched and imported in ONE transaction that also moves the
cursor, holding the sync row lock: a crash rolls the page back and the next run fetches it
again; importing is idempotent (unique external ids), so running twice creates nothing new.
One Celery task per page; the beat sweeper restarts a sync whose task got lost.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from communications import clients
from communications import provider_contract as contract
from communications.models import (
    Account,
    Delivery,
    InitialSync,
    IntegrationToken,
    Provider,
    TenantConfiguration,
)
from communications.services import inbound
from communications.services.conversations import channel_connect
from communications.services.deliveries import (
    PENDING_LIKE,
    classify_call,
    deliveries_cancel_pending,
    delivery_enqueue,
    on_delivered_handler,
    provider_call_now,
)
from communications.services.webhook_events import Event, webhook_event_emit
from delivery import policy
from delivery.dispatch import dispatch
from delivery.outcomes import AMBIGUOUS, SUCCESS, TRANSIENT

logger = logging.getLogger(__name__)

LIFECYCLE_ORDERING_KEY = "__integration__"  # getChannels / setWebhook, in order (farewell calls: no key)
FAREWELL_CALLS = ("disconnect", "deleteWebhook")
SYNC_NAMESPACE = uuid.UUID("5b0c7d1e-3f1a-4e0b-9a53-6f1c2d9e8a10")


def _configured(tenant_configuration: TenantConfiguration, endpoint: str) -> bool:
    return bool(tenant_configuration.configuration.endpoint_url(endpoint))


def _lifecycle_call(tenant_configuration: TenantConfiguration, endpoint: str, build,
                    on_delivered: str = "", ordering_key: str = LIFECYCLE_ORDERING_KEY, **fields) -> Delivery | None:
    """Queue a lifecycle call when the endpoint is configured (required ones always are after validation)."""
    if not _configured(tenant_configuration, endpoint):
        logger.warning("tenant %s provider %s: endpoint %s not configured, call skipped",
                       tenant_configuration.tenant_id, tenant_configuration.provider.code, endpoint)
        return None
    return delivery_enqueue(tenant_configuration=tenant_configuration, endpoint=endpoint,
                            payload=build(tenant_id=tenant_configuration.tenant_id, **fields),
                            ordering_key=ordering_key, on_delivered=on_delivered)


def _active_tenant_configuration(*, tenant_id, provider: Provider) -> TenantConfiguration | None:
    return (TenantConfiguration.objects.select_related("configuration", "provider")
            .filter(tenant_id=tenant_id, provider=provider, status=TenantConfiguration.Status.ACTIVE).first())


# --- activation ------------------------------------------------------------------------------------

def integration_activate(*, tenant_id: uuid.UUID, provider: Provider) -> None:
    """Token activated (the main account is already active): channels, initial sync, webhook."""
    tenant_configuration = _active_tenant_configuration(tenant_id=tenant_id, provider=provider)
    if tenant_configuration is None:
        return
    # A farewell of the previous activation still retrying would undo this one when it lands.
    Delivery.objects.filter(tenant_id=tenant_id, provider=provider, endpoint__in=FAREWELL_CALLS,
                            status__in=(*PENDING_LIKE, Delivery.Status.DEAD)).update(
        status=Delivery.Status.CANCELLED, last_error="отменена: интеграция активирована снова",
        lease_expires_at=None, updated_at=timezone.now())
    if _configured(tenant_configuration, "getMessageHistory"):
        initial_sync_prepare(tenant_configuration=tenant_configuration)
    _lifecycle_call(tenant_configuration, "getChannels", contract.get_channels_body, on_delivered="channels.activate")
    if _configured(tenant_configuration, "setWebhook"):
        _lifecycle_call(tenant_configuration, "setWebhook", contract.set_webhook_body,
                        url=settings.COMMUNICATIONS_PUBLIC_API_URL, authorization=_authorization(tenant_id, provider))


def _authorization(tenant_id, provider: Provider) -> str:
    """The header the provider calls our public API with: the tenant's active integration token."""
    from communications.services.tokens import integration_token_encode  # tokens imports this module

    token = IntegrationToken.objects.filter(tenant_id=tenant_id, provider=provider,
                                            status=IntegrationToken.Status.ACTIVE).select_related("provider").first()
    return contract.bearer(integration_token_encode(token=token)) if token else contract.EXAMPLE_AUTHORIZATION


@on_delivered_handler("channels.activate")
def _channels_activate(delivery: Delivery) -> None:
    """`getChannels` answered: a channel + child account per channel, then the initial sync may start."""
    body = delivery.response_json if isinstance(delivery.response_json, dict) else {}
    provider = delivery.provider
    for item in body.get("channels") or []:
        problem = inbound.channel_item_problem(item)
        if problem:
            logger.warning("delivery %s: channel skipped (%s): %r", delivery.pk, problem, item)
            continue
        channel_connect(tenant_id=delivery.tenant_id, provider=provider, external_id=str(item["id"])[:255],
                        code=str(item["code"])[:64], name=str(item.get("name") or "")[:255],
                        metadata=item.get("metadata") if isinstance(item.get("metadata"), dict) else None)
    sync = InitialSync.objects.filter(tenant_id=delivery.tenant_id, provider=provider,
                                      status=InitialSync.Status.WAITING).first()
    if sync is not None:
        initial_sync_resume(sync=sync)


# --- farewell ----------------------------------------------------------------------------------------

def integration_farewell(*, tenant_configuration: TenantConfiguration, reason: str) -> None:
    """Tell the provider we stop and stop calling it: cancel what is queued (and dead), the
    initial sync, then queue `integration.deactivated`, `deleteWebhook` and `disconnect`.
    `reason`: `token_deactivated` or `app_disabled`.

    Farewell calls stand outside the lifecycle chain (no ordering key): a 4xx to them is final and
    quiet, and they never hold a later activation. Removing an app whose token is already
    deactivated says nothing more: the provider heard `disconnect` then."""
    tenant_id, provider = tenant_configuration.tenant_id, tenant_configuration.provider
    said_goodbye = reason == "app_disabled" and not IntegrationToken.objects.filter(
        tenant_id=tenant_id, provider=provider, status=IntegrationToken.Status.ACTIVE).exists()
    deliveries_cancel_pending(tenant_id=tenant_id, provider=provider, reason=f"интеграция отключена ({reason})",
                              include_dead=True)
    InitialSync.objects.filter(tenant_id=tenant_id, provider=provider,
                               status__in=(*InitialSync.ACTIVE_STATUSES, InitialSync.Status.FAILED)).update(
        status=InitialSync.Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())
    if said_goodbye:
        return
    webhook_event_emit(tenant_configuration=tenant_configuration, event=Event.INTEGRATION_DEACTIVATED,
                       data=contract.integration_deactivated_event_data(provider_code=provider.code, reason=reason))
    if _configured(tenant_configuration, "deleteWebhook"):
        _lifecycle_call(tenant_configuration, "deleteWebhook", contract.delete_webhook_body, ordering_key="")
    _lifecycle_call(tenant_configuration, "disconnect", contract.disconnect_body, ordering_key="", reason=reason)


def accounts_deactivate(*, tenant_id: uuid.UUID, provider: Provider) -> int:
    """Deactivate the tenant's main and child accounts for the provider (one UPDATE)."""
    now = timezone.now()
    return Account.objects.filter(tenant_id=tenant_id, provider=provider, is_active=True).update(
        is_active=False, deactivated_at=now, updated_at=now)


# --- initial sync ---------------------------------------------------------------------------------------

@transaction.atomic
def initial_sync_prepare(*, tenant_configuration: TenantConfiguration) -> InitialSync:
    """Create the tenant's sync row (status waiting), or restart a finished one from the beginning.
    A sync that is still waiting or running is left alone: it resumes from its cursor."""
    sync, created = InitialSync.objects.select_for_update().get_or_create(
        tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider,
        defaults={"tenant_configuration": tenant_configuration})
    if not created and sync.status not in InitialSync.ACTIVE_STATUSES:
        sync.status, sync.run, sync.cursor, sync.pages_done = InitialSync.Status.WAITING, sync.run + 1, "", 0
        sync.messages_seen = sync.messages_created = sync.items_failed = sync.attempts = 0
        sync.last_error, sync.started_at, sync.finished_at = "", None, None
        sync.tenant_configuration = tenant_configuration
        sync.save()
    return sync


@transaction.atomic
def initial_sync_resume(*, sync: InitialSync) -> InitialSync:
    """Start or resume (after a failure) from the stored cursor. Used by the admin action too."""
    if sync.status in (InitialSync.Status.COMPLETED, InitialSync.Status.CANCELLED):
        return sync
    sync.status, sync.attempts, sync.next_attempt_at = InitialSync.Status.RUNNING, 0, timezone.now()
    sync.started_at = sync.started_at or timezone.now()
    sync.save(update_fields=["status", "attempts", "next_attempt_at", "started_at", "updated_at"])
    _dispatch_page_on_commit(sync)
    return sync


def _dispatch_page_on_commit(sync: InitialSync, countdown: float | None = None) -> None:
    from communications.tasks import initial_sync_page_task

    args = [sync.pk, sync.run, sync.pages_done]
    transaction.on_commit(lambda: _send_task(initial_sync_page_task, args, countdown), robust=True)


def _send_task(task, args, countdown=None) -> None:
    """One fail-fast publish (the engine's dispatch); never raises: the sweeper restarts a lost page."""
    dispatch(task, args=args, countdown=countdown, label=f"initial sync {args[0]}")


class PageError(Exception):
    """A page the provider did not give: `retryable` after a transient or ambiguous outcome
    (getMessageHistory is a read: asking again is harmless), not after a refusal (4xx)."""

    def __init__(self, text: str, *, retryable: bool):
        super().__init__(text)
        self.retryable = retryable


def _history_items(body) -> tuple[list, str]:
    if not isinstance(body, dict) or not isinstance(body.get("messages", []), list):
        raise ValueError("ответ getMessageHistory должен быть объектом {messages: [...], nextCursor}")
    next_cursor = body.get("nextCursor")
    next_cursor = inbound.storable(str(next_cursor)) if next_cursor not in (None, "") else ""
    return body.get("messages") or [], next_cursor


def _import(sync: InitialSync, items: list) -> tuple[int, int]:
    """Validate like POST /api/v1/messages and store idempotently; a bad item is skipped and
    reported (communications/services/inbound.py). Returns (created, failed)."""
    results = inbound.messages_import(tenant_id=sync.tenant_id, provider=sync.provider, items=items)
    for r in results:
        if r.result == "error":
            sync.last_error = f"страница {sync.pages_done + 1}, сообщение {r.index}: {r.errors}"[:2000]
    return sum(r.result == "created" for r in results), sum(r.result == "error" for r in results)


def _integration_live(sync: InitialSync) -> bool:
    return (TenantConfiguration.objects.filter(tenant_id=sync.tenant_id, provider=sync.provider,
                                               status=TenantConfiguration.Status.ACTIVE).exists()
            and IntegrationToken.objects.filter(tenant_id=sync.tenant_id, provider=sync.provider,
                                                status=IntegrationToken.Status.ACTIVE).exists())


@transaction.atomic
def initial_sync_page(*, sync_id: int, run: int | None = None, page: int | None = None) -> str:
    """Fetch and import one page, move the cursor, queue the next page. Safe to run twice:
    `run`/`page` say which page the task was sent for (None: whatever is next, for the sweeper)."""
    # Only the sync row (`of`): the provider row is share-locked by every recording (lock order).
    sync = InitialSync.objects.select_for_update(skip_locked=True, of=("self",)).select_related("provider").filter(
        pk=sync_id).first()
    if sync is None:
        return "locked"
    if sync.status != InitialSync.Status.RUNNING or (run is not None and run != sync.run) \
            or (page is not None and page != sync.pages_done):
        return "stale"
    now = timezone.now()
    if sync.next_attempt_at and sync.next_attempt_at > now + timedelta(seconds=2):
        return "not_due"
    if not _integration_live(sync):
        sync.status, sync.finished_at = InitialSync.Status.CANCELLED, now
        sync.save()
        return "cancelled"
    tenant_configuration = _active_tenant_configuration(tenant_id=sync.tenant_id, provider=sync.provider)
    key = str(uuid.uuid5(SYNC_NAMESPACE, f"{sync.pk}:{sync.run}:{sync.cursor}"))
    payload = contract.message_history_body(tenant_id=sync.tenant_id, cursor=sync.cursor,
                                            limit=settings.INITIAL_SYNC_PAGE_SIZE)
    try:
        try:
            result, error = provider_call_now(tenant_configuration=tenant_configuration,
                                              endpoint="getMessageHistory", payload=payload,
                                              idempotency_key=key), None
        except clients.OutboundCallError as exc:
            result, error = None, exc
        outcome, text = classify_call(result, error)  # the engine's one classification
        if outcome != SUCCESS:
            raise PageError(text[:300], retryable=outcome in (TRANSIENT, AMBIGUOUS))
        items, next_cursor = _history_items(result.json_as_sent)  # items are judged one by one
    except (PageError, ValueError) as exc:
        return _page_failed(sync, exc)
    created, failed = _import(sync, items)
    sync.pages_done += 1
    sync.messages_seen += len(items)
    sync.messages_created += created
    sync.items_failed += failed
    sync.attempts = 0
    if next_cursor and items:
        sync.cursor, sync.next_attempt_at = next_cursor, now
        sync.save()
        _dispatch_page_on_commit(sync)
        return "page"
    sync.status, sync.finished_at = InitialSync.Status.COMPLETED, now
    sync.save()
    logger.info("initial sync %s completed: %s messages, %s new", sync.pk, sync.messages_seen, sync.messages_created)
    return "completed"


def _page_failed(sync: InitialSync, exc: Exception) -> str:
    retryable = getattr(exc, "retryable", False)
    sync.attempts += 1
    sync.last_error = f"страница {sync.pages_done + 1}: {exc}"[:2000]
    if not retryable or sync.attempts >= policy.max_attempts("sync_page"):
        sync.status = InitialSync.Status.FAILED
        sync.save()
        logger.warning("initial sync %s failed: %s", sync.pk, sync.last_error)
        return "failed"
    delay = min(policy.retry_delay("sync_page", sync.attempts), settings.CELERY_MAX_COUNTDOWN)
    sync.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    sync.save()
    _dispatch_page_on_commit(sync, countdown=delay)
    return "retry"


def initial_syncs_sweep() -> int:
    """Beat: re-dispatch running syncs whose page task got lost (broker down, worker killed)."""
    grace = timezone.now() - timedelta(seconds=settings.INITIAL_SYNC_SWEEP_GRACE)
    stuck = list(InitialSync.objects.filter(status=InitialSync.Status.RUNNING, next_attempt_at__lte=grace,
                                            updated_at__lte=grace).values_list("pk", flat=True)[:200])
    from communications.tasks import initial_sync_page_task

    for pk in stuck:
        _send_task(initial_sync_page_task, [pk, None, None])
    return len(stuck)
