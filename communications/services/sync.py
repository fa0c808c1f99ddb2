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

The initial sync pages through `getMessageHistory` on the delivery engine: one row (kind
`sync_page`) per page, in a chain per sync. The engine owns claim, lease, retries and the sweeper;
the kind below makes the call and, in the transaction that records the answer, imports the page,
moves the cursor and queues the next page. A crash loses at most the page in flight (its lease
expires and the sweeper fetches it again); importing is idempotent (unique external ids).
A page's answer has its own size cap (INITIAL_SYNC_MAX_ANSWER_BYTES); an answer over it asks the same cursor
again with half the `limit` (a new row; later pages keep the smaller limit), down to INITIAL_SYNC_MIN_PAGE_SIZE.
"""

import logging
import uuid
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

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
    call_attempt,
    deliveries_cancel_pending,
    delivery_enqueue,
    integration_lock_sql,
    provider_call_now,
)
from communications.services.webhook_events import Event, webhook_event_emit
from config.observability.request_id import request_id_get
from config.sql import MARK, compiled
from delivery import engine
from delivery.engine import on_delivered_handler
from delivery.kinds import Attempt, Kind, LockSql, register
from delivery.outcomes import PERMANENT, SUCCESS

logger = logging.getLogger(__name__)

LIFECYCLE_ORDERING_KEY = "__integration__"  # getChannels / setWebhook, in order (farewell calls: no key)
FAREWELL_CALLS = ("disconnect", "deleteWebhook")


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


# --- initial sync: pages on the delivery engine (kind `sync_page`) ------------------------------------

@transaction.atomic
def initial_sync_prepare(*, tenant_configuration: TenantConfiguration) -> InitialSync:
    """Create the tenant's sync row (status waiting), or restart a finished one from the beginning.
    A sync that is still waiting or running is left alone: it resumes from its cursor."""
    sync, created = InitialSync.objects.select_for_update().get_or_create(
        tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider,
        defaults={"tenant_configuration": tenant_configuration})
    if not created and sync.status not in InitialSync.ACTIVE_STATUSES:
        sync.status, sync.run, sync.cursor, sync.pages_done = InitialSync.Status.WAITING, sync.run + 1, "", 0
        sync.messages_seen = sync.messages_created = sync.items_failed = 0
        sync.last_error, sync.started_at, sync.finished_at, sync.delivery = "", None, None, None
        sync.tenant_configuration = tenant_configuration
        sync.save()
    return sync


@transaction.atomic
def initial_sync_resume(*, sync: InitialSync) -> InitialSync:
    """Start, or resume after a failure: a fresh page row from the stored cursor. Used by the admin
    («Возобновить», and «Повторить» on the all-deliveries page) too."""
    # Page rows of an earlier try stop first, so a dead one no longer holds the sync's chain
    # (deliveries before the sync row: the lock order). Not through the engine: their on_final
    # must not fail the sync that is being resumed.
    _page_rows(sync).filter(status__in=(*PENDING_LIKE, Delivery.Status.DEAD)).update(
        status=Delivery.Status.CANCELLED, last_error="заменена: синхронизация возобновлена", lease_expires_at=None,
        updated_at=timezone.now())
    sync = InitialSync.objects.select_for_update().select_related("provider").get(pk=sync.pk)
    if sync.status in (InitialSync.Status.COMPLETED, InitialSync.Status.CANCELLED):
        return sync
    sync.status = InitialSync.Status.RUNNING
    sync.started_at = sync.started_at or timezone.now()
    _page_queue(sync)
    sync.save()
    return sync


def _page_rows(sync: InitialSync):
    return Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=sync.tenant_id,
                                   provider_id=sync.provider_id, ordering_key=_ordering_key(sync))


def _ordering_key(sync: InitialSync) -> str:
    return f"initial-sync:{sync.pk}"  # pages of one sync go out one after another


def _page_queue(sync: InitialSync, current: tuple | None = None, limit: int | None = None) -> None:
    """The engine row that fetches the page at the sync's cursor (the caller saves the sync). `current`: the
    active tenant configuration and its configuration, when the caller holds them already; `limit`: the page
    size, INITIAL_SYNC_PAGE_SIZE unless an answer was too big (carried from page to page in the payload)."""
    tenant_configuration, configuration = current or (None, None)
    if tenant_configuration is None:
        tenant_configuration = (_active_tenant_configuration(tenant_id=sync.tenant_id, provider=sync.provider)
                                or sync.tenant_configuration)  # none active: the gate cancels the sync
        configuration = tenant_configuration.configuration if tenant_configuration else None
    sync.delivery = engine.delivery_create(
        kind=Delivery.Kind.SYNC_PAGE, ordering_key=_ordering_key(sync), tenant_id=sync.tenant_id,
        provider_id=sync.provider_id, tenant_configuration=tenant_configuration, configuration=configuration,
        endpoint="getMessageHistory", url=(configuration.endpoint_url("getMessageHistory") or "") if configuration else "",
        payload={"sync": sync.pk, "run": sync.run, "page": sync.pages_done, "cursor": sync.cursor,
                 "limit": limit or settings.INITIAL_SYNC_PAGE_SIZE},
        request_id=request_id_get())


def _page_limit(delivery: Delivery) -> int:
    return delivery.payload.get("limit") or settings.INITIAL_SYNC_PAGE_SIZE  # rows queued before the key existed


def _too_big(limit: int, configuration) -> tuple[str, tuple | None]:
    """The reason of an answer over the cap, and (smaller limit, configuration) for `on_refused` to ask the same
    cursor again with; None under the minimum: the sync fails with the reason."""
    cap = settings.INITIAL_SYNC_MAX_ANSWER_BYTES
    smaller = max(limit // 2, settings.INITIAL_SYNC_MIN_PAGE_SIZE, 1)
    if smaller < limit:
        return f"ответ getMessageHistory больше {cap // 1024} КБ при limit {limit}: запрошена снова с limit {smaller}", (
            smaller, configuration)
    return (f"ответ getMessageHistory больше {cap // 1024} КБ и при limit {limit}: увеличьте "
            "INITIAL_SYNC_MAX_ANSWER_BYTES или уменьшите INITIAL_SYNC_MIN_PAGE_SIZE и возобновите синхронизацию"), None


def _history_items(body) -> tuple[list, str]:
    if not isinstance(body, dict) or not isinstance(body.get("messages", []), list):
        raise ValueError("ответ getMessageHistory должен быть объектом {messages: [...], nextCursor}")
    next_cursor = body.get("nextCursor")
    next_cursor = inbound.storable(str(next_cursor)) if next_cursor not in (None, "") else ""
    return body.get("messages") or [], next_cursor


def _import(sync: InitialSync, page: int, items: list, storable: bool) -> tuple[int, int]:
    """Validate like POST /api/v1/messages and store idempotently; a bad item is skipped and
    reported (communications/services/inbound.py). Returns (created, failed)."""
    results = inbound.messages_import(tenant_id=sync.tenant_id, provider=sync.provider, items=items, light=True,
                                      storable=storable)
    for r in results:
        if r.result == "error":
            sync.last_error = f"страница {page + 1}, сообщение {r.index}: {r.errors}"[:2000]
    return sum(r.result == "created" for r in results), sum(r.result == "error" for r in results)


def _sync_query(lock: bool):
    rows = InitialSync.objects.select_related("provider")
    if lock:
        rows = rows.select_for_update(of=("self",))  # only the sync row: the provider is share-locked
    return rows.filter(pk=MARK)


def _sync_of(delivery: Delivery, *, lock: bool = False) -> InitialSync | None:
    """The sync while this row is its current page (None for a row the sync has moved past). The query is
    compiled once per thread (config/sql.py)."""
    sync = compiled(("initial-sync", lock), partial(_sync_query, lock)).get(delivery.payload["sync"])
    if sync is None or sync.delivery_id != delivery.pk or sync.status != InitialSync.Status.RUNNING:
        return None
    return sync


def _current_configuration(delivery: Delivery, configuration) -> tuple | None:
    """(tenant configuration, configuration) for the next page: the row's own tenant configuration (locked by
    the record step; one per tenant and provider) while it is active and still on `configuration`, the one the
    claim read for this page. None: read them again."""
    tenant_configuration = delivery.tenant_configuration
    if (configuration is None or tenant_configuration is None
            or tenant_configuration.status != TenantConfiguration.Status.ACTIVE
            or tenant_configuration.configuration_id != configuration.pk):
        return None
    return tenant_configuration, configuration


@register
class _SyncPageKind(Kind):
    """One getMessageHistory page: fetched by the engine, imported when its answer is recorded.

    A read: asking again after an ambiguous outcome is harmless (and the provider drops repeats by
    Idempotency-Key anyway). The answer is imported in the transaction that records it, which also
    moves the cursor and queues the next page, so a crash loses at most the page in flight."""

    name = Delivery.Kind.SYNC_PAGE

    def retry_schedule(self) -> list[float]:
        return [settings.INITIAL_SYNC_RETRY_DELAY * 2 ** n for n in range(settings.INITIAL_SYNC_MAX_ATTEMPTS)]

    def max_attempts(self) -> int:
        return settings.INITIAL_SYNC_MAX_ATTEMPTS

    def claim_annotations(self) -> dict:
        """The gate's facts in the claim's query (issue 19: three queries less per page)."""
        scope = {"tenant_id": OuterRef("tenant_id"), "provider_id": OuterRef("provider_id")}
        return {
            "sync_waits": Exists(InitialSync.objects.filter(delivery_id=OuterRef("pk"),
                                                            status=InitialSync.Status.RUNNING)),
            "configuration_active": Exists(TenantConfiguration.objects.filter(
                **scope, status=TenantConfiguration.Status.ACTIVE)),
            "token_active": Exists(IntegrationToken.objects.filter(**scope, status=IntegrationToken.Status.ACTIVE)),
        }

    def gate(self, delivery: Delivery) -> str | None:
        """The sync still waits for this page (as `_sync_of`) and the integration is live (an active
        tenant configuration and token), from the claim's annotations."""
        if not delivery.sync_waits:
            engine.finish(delivery, Delivery.Status.CANCELLED, "синхронизация больше не ждёт эту страницу")
            return "stale"
        if not (delivery.configuration_active and delivery.token_active):
            InitialSync.objects.filter(pk=delivery.payload["sync"], status=InitialSync.Status.RUNNING).update(
                status=InitialSync.Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())
            engine.finish(delivery, Delivery.Status.CANCELLED, "интеграция отключена")
            return "cancelled"
        return None

    def send(self, delivery: Delivery) -> Attempt:
        limit = _page_limit(delivery)
        body = contract.message_history_body(tenant_id=delivery.tenant_id, cursor=delivery.payload["cursor"],
                                             limit=limit)
        tenant_configuration, configuration = delivery.tenant_configuration, None
        if tenant_configuration is not None and tenant_configuration.configuration_id == delivery.configuration_id:
            # The claim's query read the configuration and the provider with the row: no query for them here.
            configuration = tenant_configuration.configuration = delivery.configuration
            tenant_configuration.provider = delivery.provider
        attempt = call_attempt(lambda: provider_call_now(
            tenant_configuration=tenant_configuration, endpoint="getMessageHistory", payload=body,
            idempotency_key=str(delivery.idempotency_key)))  # the history's own answer cap (provider_call_now)
        attempt.response_json, attempt.external_id = None, ""  # the page is imported, not stored on the row
        if attempt.outcome != SUCCESS:
            return attempt
        if attempt.response.json_as_sent is None and len(attempt.response.body) >= settings.INITIAL_SYNC_MAX_ANSWER_BYTES:
            # Asking again gets the same answer: refused; on_refused asks for a smaller page instead, if it may.
            attempt.outcome = PERMANENT
            attempt.error, attempt.response = _too_big(limit, configuration)
            return attempt
        # The client's storable copy of the answer is the answer itself when it holds no unstorable text
        # (config/text.py `unstorable_replaced`): then the import need not look for any.
        storable = attempt.response.json is attempt.response.json_as_sent
        try:  # items are judged one by one when imported; the page itself must have this shape
            attempt.response = (*_history_items(attempt.response.json_as_sent), storable, configuration)
        except ValueError as exc:
            attempt.outcome, attempt.error, attempt.response = PERMANENT, str(exc), None
        return attempt

    def lock_sql(self, delivery: Delivery) -> LockSql:
        return integration_lock_sql(delivery)  # provider, tenant configuration, token before the row (lock order)

    def hook_needed(self, name: str, delivery: Delivery, *args) -> bool:
        """`on_refused` only for an answer over the cap that may be asked again smaller; `on_final` after
        `on_success` or `on_refused` moved the sync on (same record step) has nothing to stop: no savepoint."""
        if name == "on_refused":
            return args[0].response is not None
        return not (name == "on_final" and getattr(delivery, "sync_moved_on", False))

    def quiet_refusal(self, delivery: Delivery) -> bool:
        return getattr(delivery, "sync_moved_on", False)  # a smaller page is on its way

    def on_refused(self, delivery: Delivery, attempt: Attempt) -> None:
        """An answer over the cap: the same cursor and page again with a smaller limit, which later pages keep."""
        limit, configuration = attempt.response
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return
        _page_queue(sync, _current_configuration(delivery, configuration), limit=limit)
        sync.save(update_fields=("delivery", "updated_at"))
        delivery.sync_moved_on = True

    def on_success(self, delivery: Delivery, attempt: Attempt) -> None:
        items, next_cursor, storable, configuration = attempt.response
        sync = _sync_of(delivery)
        if sync is None:
            return  # superseded (resumed, cancelled) meanwhile
        page = delivery.payload["page"]
        created, failed = _import(sync, page, items, storable)  # chats, messages before the sync row (lock order)
        last_error = sync.last_error
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return
        sync.last_error = last_error
        sync.pages_done = page + 1
        sync.messages_seen += len(items)
        sync.messages_created += created
        sync.items_failed += failed
        if next_cursor and items:
            sync.cursor = next_cursor
            _page_queue(sync, _current_configuration(delivery, configuration), limit=_page_limit(delivery))
        else:
            sync.status, sync.finished_at = InitialSync.Status.COMPLETED, timezone.now()  # the last page stays linked
            logger.info("initial sync %s completed: %s messages, %s new", sync.pk, sync.messages_seen,
                        sync.messages_created)
        sync.save(update_fields=("last_error", "pages_done", "messages_seen", "messages_created", "items_failed",
                                 "cursor", "delivery", "status", "finished_at", "updated_at"))
        delivery.sync_moved_on = True  # on_final (same record step) has nothing to stop: see hook_needed

    def on_final(self, delivery: Delivery) -> None:
        """A page that ended without moving the sync on (refused, dead, cancelled, or its answer could
        not be imported) stops the sync as failed, with the reason; «Возобновить» goes on from the cursor."""
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return
        sync.status = InitialSync.Status.FAILED
        sync.last_error = f"страница {delivery.payload['page'] + 1}: {delivery.last_error}"[:2000]
        sync.save()
        logger.warning("initial sync %s failed: %s", sync.pk, sync.last_error)
