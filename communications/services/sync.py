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

The initial sync pages through `getMessageHistory` on the delivery engine, in two kinds of rows:
- `sync_page`: one fetch per page, in a chain per sync (a page's cursor comes with the page before). The
  transaction that records its answer keeps the answer (`InitialSyncPage`), queues its import, moves the cursor
  and queues the next fetch — unless INITIAL_SYNC_PAGES_AHEAD pages already wait for their import; then the
  import that brings the count under it queues the fetch.
- `sync_import`: the import of one kept page, outside any chain, so a sync's pages load in parallel on the
  workers while the next ones are fetched. The transaction that records it stores the messages, counts them,
  drops the kept answer and completes the sync once the last page is fetched and every page is loaded.
The engine owns claim, lease, retries and the sweeper of both. A crash loses at most the work in flight (its
lease expires and the sweeper runs it again); importing is idempotent (unique external ids). A fetch or an import
that fails stops the sync as failed; «Возобновить» imports the kept pages again and fetches from the cursor.
A page's answer has its own size cap (INITIAL_SYNC_MAX_ANSWER_BYTES); an answer over it asks the same cursor
again with half the `limit` (a new row; later pages keep the smaller limit), down to INITIAL_SYNC_MIN_PAGE_SIZE.
"""

import json
import logging
import time
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
    InitialSyncPage,
    IntegrationToken,
    Provider,
    TenantConfiguration,
)
from communications.services import inbound
from communications.services.conversations import channel_connect, replies_link
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
    InitialSyncPage.objects.filter(sync__tenant_id=tenant_id, sync__provider=provider).delete()  # kept answers
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


# --- initial sync: fetches (kind `sync_page`) and imports (kind `sync_import`) on the delivery engine ---

@transaction.atomic
def initial_sync_prepare(*, tenant_configuration: TenantConfiguration) -> InitialSync:
    """Create the tenant's sync row (status waiting), or restart a finished one from the beginning.
    A sync that is still waiting or running is left alone: it resumes from its cursor."""
    sync, created = InitialSync.objects.select_for_update().get_or_create(
        tenant_id=tenant_configuration.tenant_id, provider=tenant_configuration.provider,
        defaults={"tenant_configuration": tenant_configuration})
    if not created and sync.status not in InitialSync.ACTIVE_STATUSES:
        _start_over(sync)
        sync.status, sync.started_at, sync.finished_at = InitialSync.Status.WAITING, None, None
        sync.tenant_configuration = tenant_configuration
        sync.save()
    return sync


def _start_over(sync: InitialSync) -> None:
    """From the first page again, as a new run (the caller saves the sync): the earlier run's kept answers go, and
    its imports left find nothing and stop."""
    sync.run, sync.cursor, sync.page_limit, sync.fetched_all, sync.last_error = sync.run + 1, "", 0, False, ""
    sync.pages_fetched = sync.pages_done = sync.messages_seen = sync.messages_created = sync.items_failed = 0
    sync.delivery = None
    sync.pages.all().delete()


@transaction.atomic
def initial_sync_resume(*, sync: InitialSync) -> InitialSync:
    """Start, or resume after a failure: a fresh import for each kept page whose import ended without loading it,
    and a fresh fetch from the stored cursor. Used by the admin («Возобновить», and «Повторить» on the
    all-deliveries page) too."""
    # Fetch rows of an earlier try stop first, so a dead one no longer holds the sync's chain
    # (deliveries before the sync row: the lock order). Not through the engine: their on_final
    # must not fail the sync that is being resumed.
    _page_rows(sync).filter(status__in=(*PENDING_LIKE, Delivery.Status.DEAD)).update(
        status=Delivery.Status.CANCELLED, last_error="заменена: синхронизация возобновлена", lease_expires_at=None,
        updated_at=timezone.now())
    sync = InitialSync.objects.select_for_update().select_related("provider").get(pk=sync.pk)
    if sync.status in (InitialSync.Status.COMPLETED, InitialSync.Status.CANCELLED):
        return sync
    sync.status, sync.page_limit = InitialSync.Status.RUNNING, 0  # the full page again (the cap may be raised)
    sync.started_at = sync.started_at or timezone.now()
    current = _current(sync)
    if sync.pages_done + sync.pages.filter(run=sync.run).count() < sync.pages_fetched:
        _start_over(sync)  # a kept answer is gone (its import row was pruned): the cursor is past it
    for page in sync.pages.filter(run=sync.run).exclude(delivery__status__in=PENDING_LIKE).order_by("page"):
        page.delivery = _import_queue(sync, page.page, current)
        page.save(update_fields=("delivery",))
    _go_on(sync, current)
    sync.save()
    return sync


def _page_rows(sync: InitialSync):
    return Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=sync.tenant_id,
                                   provider_id=sync.provider_id, ordering_key=_ordering_key(sync))


def _ordering_key(sync: InitialSync) -> str:
    return f"initial-sync:{sync.pk}"  # pages of one sync are fetched one after another


def _current(sync: InitialSync) -> tuple:
    """(tenant configuration, configuration) of the sync's next rows: the active one, else the sync's own (none
    active: the fetch's gate cancels the sync)."""
    tenant_configuration = (_active_tenant_configuration(tenant_id=sync.tenant_id, provider=sync.provider)
                            or sync.tenant_configuration)
    return tenant_configuration, tenant_configuration.configuration if tenant_configuration else None


def _go_on(sync: InitialSync, current: tuple | None = None) -> None:
    """After a page is fetched or loaded, or on resume (the sync locked and running; the caller saves it): complete
    once the last page is fetched and every page loaded; else fetch the next page unless one is on its way or
    INITIAL_SYNC_PAGES_AHEAD pages wait for their import (then `sync.delivery` is None, and the import that brings
    the count under it comes here). `current`: as for `_page_queue`."""
    if sync.fetched_all:
        if sync.pages_done >= sync.pages_fetched:
            sync.status, sync.finished_at = InitialSync.Status.COMPLETED, timezone.now()  # the last page stays linked
            logger.info("initial sync %s completed: %s messages, %s new", sync.pk, sync.messages_seen,
                        sync.messages_created)
    elif sync.pages_fetched - sync.pages_done >= max(settings.INITIAL_SYNC_PAGES_AHEAD, 1):
        sync.delivery = None
    elif sync.delivery_id is None or not Delivery.objects.filter(pk=sync.delivery_id,
                                                                status__in=PENDING_LIKE).exists():
        _page_queue(sync, current)  # no fetch on its way


def _page_queue(sync: InitialSync, current: tuple | None = None) -> None:
    """The engine row that fetches the page at the sync's cursor (the caller saves the sync). `current`: the
    active tenant configuration and its configuration, when the caller holds them already. Its `limit`:
    INITIAL_SYNC_PAGE_SIZE, or the smaller one kept since an answer was too big."""
    tenant_configuration, configuration = current or _current(sync)
    sync.delivery = engine.delivery_create(
        kind=Delivery.Kind.SYNC_PAGE, ordering_key=_ordering_key(sync), tenant_id=sync.tenant_id,
        provider_id=sync.provider_id, tenant_configuration=tenant_configuration, configuration=configuration,
        endpoint="getMessageHistory", url=(configuration.endpoint_url("getMessageHistory") or "") if configuration else "",
        payload={"sync": sync.pk, "run": sync.run, "page": sync.pages_fetched, "cursor": sync.cursor,
                 "limit": sync.page_limit or settings.INITIAL_SYNC_PAGE_SIZE},
        request_id=request_id_get())


def _import_queue(sync: InitialSync, page: int, current: tuple) -> Delivery:
    """The engine row that imports a kept page (no chain: a sync's pages load in parallel)."""
    tenant_configuration, configuration = current
    return engine.delivery_create(
        kind=Delivery.Kind.SYNC_IMPORT, tenant_id=sync.tenant_id, provider_id=sync.provider_id,
        tenant_configuration=tenant_configuration, configuration=configuration, endpoint="getMessageHistory",
        payload={"sync": sync.pk, "run": sync.run, "page": page}, request_id=request_id_get())


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


def _import(sync: InitialSync, page: int, items: list, storable: bool, received_at) -> tuple[list[str], int]:
    """Validate like POST /api/v1/messages and store idempotently; a bad item is skipped and
    reported (communications/services/inbound.py). The messages were received when their page was fetched, so the
    pages' order is theirs however the imports ran. Returns (the ids of the messages created, failed)."""
    results = inbound.messages_import(tenant_id=sync.tenant_id, provider=sync.provider, items=items, light=True,
                                      storable=storable, received_at=received_at)
    for r in results:
        if r.result == "error":
            sync.last_error = f"страница {page + 1}, сообщение {r.index}: {r.errors}"[:2000]
    return [r.id for r in results if r.result == "created"], sum(r.result == "error" for r in results)


def _sync_query(lock: bool):
    rows = InitialSync.objects.select_related("provider")
    if lock:
        rows = rows.select_for_update(of=("self",))  # only the sync row: the provider is share-locked
    return rows.filter(pk=MARK)


def _sync_get(pk: int, *, lock: bool = False) -> InitialSync | None:
    """The sync with its provider; the query is compiled once per thread (config/sql.py)."""
    return compiled(("initial-sync", lock), partial(_sync_query, lock)).get(pk)


def _sync_of(delivery: Delivery, *, lock: bool = False) -> InitialSync | None:
    """The sync while this fetch row is its current page (None for a row the sync has moved past)."""
    sync = _sync_get(delivery.payload["sync"], lock=lock)
    if sync is None or sync.delivery_id != delivery.pk or sync.status != InitialSync.Status.RUNNING:
        return None
    return sync


def _current_configuration(delivery: Delivery, configuration) -> tuple | None:
    """(tenant configuration, configuration) for the next rows: the row's own tenant configuration (locked by
    the record step; one per tenant and provider) while it is active and still on `configuration`, the one the
    claim read for this page. None: read them again."""
    tenant_configuration = delivery.tenant_configuration
    if (configuration is None or tenant_configuration is None
            or tenant_configuration.status != TenantConfiguration.Status.ACTIVE
            or tenant_configuration.configuration_id != configuration.pk):
        return None
    return tenant_configuration, configuration


class _SyncKind(Kind):
    """What the sync's two kinds share: their retries, their queue, and the integration's locks before the row."""

    def retry_schedule(self) -> list[float]:
        return [settings.INITIAL_SYNC_RETRY_DELAY * 2 ** n for n in range(settings.INITIAL_SYNC_MAX_ATTEMPTS)]

    def max_attempts(self) -> int:
        return settings.INITIAL_SYNC_MAX_ATTEMPTS

    def lock_sql(self, delivery: Delivery) -> LockSql:
        return integration_lock_sql(delivery)  # provider, tenant configuration, token before the row (lock order)

    def queue(self) -> str:
        return settings.INITIAL_SYNC_QUEUE or settings.DELIVERY_QUEUE

    def hook_needed(self, name: str, delivery: Delivery, *args) -> bool:
        """`on_final` after `on_success` or `on_refused` moved the sync on (same record step) has nothing to stop:
        no savepoint."""
        return not (name == "on_final" and getattr(delivery, "sync_moved_on", False))


@register
class _SyncPageKind(_SyncKind):
    """One getMessageHistory page: fetched by the engine; its answer is kept and its import queued when recorded.

    A read: asking again after an ambiguous outcome is harmless (and the provider drops repeats by
    Idempotency-Key anyway). The transaction that records the answer also moves the cursor and queues the
    next fetch, so a crash loses at most the page in flight."""

    name = Delivery.Kind.SYNC_PAGE

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
        attempt.response_json, attempt.external_id = None, ""  # the page is kept for its import, not on the row
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
            items, next_cursor = _history_items(attempt.response.json_as_sent)
        except ValueError as exc:
            attempt.outcome, attempt.error, attempt.response = PERMANENT, str(exc), None
            return attempt
        attempt.response = (len(items), next_cursor, attempt.response.body, storable, configuration)
        return attempt

    def hook_needed(self, name: str, delivery: Delivery, *args) -> bool:
        """`on_refused` only for an answer over the cap that may be asked again smaller."""
        if name == "on_refused":
            return isinstance(args[0].response, tuple)  # `send` left (smaller limit, configuration) there
        return super().hook_needed(name, delivery, *args)

    def quiet_refusal(self, delivery: Delivery) -> bool:
        return getattr(delivery, "sync_moved_on", False)  # a smaller page is on its way

    def on_refused(self, delivery: Delivery, attempt: Attempt) -> None:
        """An answer over the cap: the same cursor and page again with a smaller limit, which later pages keep."""
        limit, configuration = attempt.response
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return
        sync.page_limit = limit
        _page_queue(sync, _current_configuration(delivery, configuration))
        sync.save(update_fields=("page_limit", "delivery", "updated_at"))
        delivery.sync_moved_on = True

    def on_success(self, delivery: Delivery, attempt: Attempt) -> None:
        """Keep the answer and queue its import; move the cursor and go on (the next fetch, or the end)."""
        messages, next_cursor, body, storable, configuration = attempt.response
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return  # superseded (resumed, cancelled, failed by an import) meanwhile
        page, current = delivery.payload["page"], _current_configuration(delivery, configuration)
        sync.pages_fetched = page + 1
        sync.messages_seen += messages
        if messages:
            current = current or _current(sync)
            InitialSyncPage.objects.create(sync=sync, run=sync.run, page=page, messages=messages, body=body,
                                           storable=storable, delivery=_import_queue(sync, page, current))
        else:
            sync.pages_done += 1  # nothing to load
        if next_cursor and messages:
            sync.cursor, sync.delivery = next_cursor, None  # this fetch is done: `_go_on` queues the next one
        else:
            sync.fetched_all = True  # the last page stays linked
        _go_on(sync, current)
        sync.save(update_fields=("pages_fetched", "pages_done", "fetched_all", "messages_seen", "cursor", "delivery",
                                 "status", "finished_at", "updated_at"))
        delivery.sync_moved_on = True  # on_final (same record step) has nothing to stop: see hook_needed

    def on_final(self, delivery: Delivery) -> None:
        """A page that ended without moving the sync on (refused, dead, cancelled, or its answer could
        not be kept) stops the sync as failed, with the reason; «Возобновить» goes on from the cursor."""
        sync = _sync_of(delivery, lock=True)
        if sync is None:
            return
        _fail(sync, f"страница {delivery.payload['page'] + 1}: {delivery.last_error}")


def _fail(sync: InitialSync, reason: str) -> None:
    sync.status, sync.last_error = InitialSync.Status.FAILED, reason[:2000]
    sync.save(update_fields=("status", "last_error", "updated_at"))
    logger.warning("initial sync %s failed: %s", sync.pk, sync.last_error)


@register
class _SyncImportKind(_SyncKind):
    """The import of one kept page (`InitialSyncPage`): no call; the engine gives it a claim, a lease, retries and
    the sweeper. No chain: a sync's pages load in parallel, in any order (replies are linked either way)."""

    name = Delivery.Kind.SYNC_IMPORT

    def send(self, delivery: Delivery) -> Attempt:
        started = time.monotonic()
        kept = (InitialSyncPage.objects.filter(delivery_id=delivery.pk)
                .values_list("body", "storable", "created_at").first())
        if kept is None:
            return Attempt(PERMANENT, error="страницы больше нет: синхронизация отменена или начата заново")
        items, _ = _history_items(json.loads(bytes(kept[0])))  # the fetch has checked its shape
        return Attempt(SUCCESS, latency_ms=int((time.monotonic() - started) * 1000), response=(items, *kept[1:]))

    def on_success(self, delivery: Delivery, attempt: Attempt) -> None:
        """Store the page's messages (chats, messages before the sync row: the lock order), count them, drop the
        kept answer and go on. A sync failed meanwhile still counts its pages; a restarted or cancelled one not."""
        items, storable, fetched_at = attempt.response
        page, run = delivery.payload["page"], delivery.payload["run"]
        sync = _sync_get(delivery.payload["sync"])
        if sync is None or sync.run != run or sync.status not in (InitialSync.Status.RUNNING,
                                                                  InitialSync.Status.FAILED):
            return
        created, failed = _import(sync, page, items, storable, fetched_at)
        last_error = sync.last_error
        sync = _sync_get(delivery.payload["sync"], lock=True)
        if sync.run != run:
            return
        # The sync row serialises the ends of its imports: this statement sees the pages imported alongside this
        # one that got here first, so a reply and its quote in two such pages are linked (the import's own link
        # ran before they were committed).
        replies_link(tenant_id=sync.tenant_id, provider=sync.provider, external_ids=created)
        sync.last_error = last_error if failed else sync.last_error
        sync.pages_done += 1
        sync.messages_created += len(created)
        sync.items_failed += failed
        InitialSyncPage.objects.filter(delivery_id=delivery.pk).delete()
        if sync.status == InitialSync.Status.RUNNING:
            _go_on(sync)
        sync.save(update_fields=("last_error", "pages_done", "messages_created", "items_failed", "delivery",
                                 "status", "finished_at", "updated_at"))
        delivery.sync_moved_on = True

    def on_final(self, delivery: Delivery) -> None:
        """An import that ended without loading its page (dead, cancelled, its import failed) stops the sync as
        failed; the page stays kept, and «Возобновить» imports it again."""
        sync = _sync_get(delivery.payload["sync"], lock=True)
        if sync is None or sync.run != delivery.payload["run"] or sync.status != InitialSync.Status.RUNNING:
            return
        _fail(sync, f"страница {delivery.payload['page'] + 1} (загрузка): {delivery.last_error}")
