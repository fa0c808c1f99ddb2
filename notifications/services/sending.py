"""`notification_send`: validate, record, deliver (now, or in the background).

Every accepted request becomes a `Notification` row (the history) and, when the recipient is linked,
a row of the delivery engine (`communications.Delivery`, kind `notification`) before anything is sent,
so a failure is never lost. The engine owns the attempts, lease, retries, sweeper and dead letters; this
module builds the send, classifies its answer (`_NotificationKind`) and mirrors the final status into
the history row. `http_status` is the answer given to the caller (200, 202, 404, 500). An
Idempotency-Key retry replays final answers (200, 202, 4xx, and 500 for `unknown`); after a provider
failure (500, `failed`) the same key tries again. Outcomes (docs/notifications.md, «Исходы»): an
ambiguous one is retried only by channels that drop duplicates, else the send becomes `unknown`.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, router, transaction
from django.utils import timezone

from communications.models import Delivery
from config.errors import ApplicationError
from config.observability.metrics import notification_observe
from config.observability.request_id import request_id_get
from config.sql import insert_linked, update_row, update_row_sql
from delivery import engine
from delivery.kinds import AlsoSql, Attempt, Kind, register
from delivery.outcomes import DEFERRED, PERMANENT, SUCCESS
from notifications.models import (
    Notification,
    Role,
)
from notifications.ratelimit import acquire_all
from notifications.rules import type_allowed
from notifications.selectors import notification_get_by_key, recipient_get_for_send
from notifications.transports import DeliveryError, Target, Transport, get_transport

logger = logging.getLogger(__name__)
Status = Notification.Status


def notification_send(*, requested_by, user_id, service: str, subject: str, type: str, message: str,
                      idempotency_key: str = "", is_async: bool = False, notify_request=None) -> Notification:
    """Record the notification and deliver it (sync) or queue it (async). Returns the row.

    Raises NotFoundError recipient_not_found (404) and ApplicationError (400) before recording anything.
    A known recipient without an address for the service gets a FAILED row with http_status 404.
    """
    fingerprint = _fingerprint(user_id, service, subject, type, message, is_async)
    existing = notification_get_by_key(requested_by=requested_by, idempotency_key=idempotency_key)
    if existing:
        return _replay_or_retry(existing, fingerprint)

    transport = get_transport(service)
    recipient = recipient_get_for_send(recipient_id=user_id, transport=transport)
    if not type_allowed(role=recipient.role, type=type):
        raise ApplicationError(
            f"Тип «{type}» недоступен для роли «{Role(recipient.role).label}».", field="type")
    problem = transport.length_error(transport.render(role=recipient.role, subject=subject, type=type, message=message))
    if problem:
        raise ApplicationError(problem, field="message")

    fields = dict(recipient=recipient, service=service, subject=subject, type=type, message=message,
                  requested_by=requested_by, idempotency_key=idempotency_key,
                  request_fingerprint=fingerprint, is_async=is_async, notify_request=notify_request)
    notification = Notification(**fields)  # its id (a UUID) exists before the INSERT
    target = transport.target_annotated(recipient)
    try:
        if target is None:
            notification.status, notification.http_status = Status.FAILED, 404
            notification.last_error = transport.not_linked()
            with transaction.atomic():
                notification.save(force_insert=True)
            _finished(notification)
            return notification
        if is_async:
            notification.http_status = 202
        _rows_insert(notification, synchronous=not is_async)
        if is_async:
            return notification
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        winner = notification_get_by_key(requested_by=requested_by, idempotency_key=idempotency_key)
        if winner is None:
            raise
        return _replay_or_retry(winner, fingerprint)
    return _deliver_sync(notification, target=target)


def notification_deliver(*, notification_id) -> None:
    """One engine attempt for the notification's send (kept for tasks queued before the engine owned it)."""
    delivery_id = Notification.objects.filter(pk=notification_id).values_list("delivery_id", flat=True).first()
    if delivery_id:
        engine.delivery_send(delivery_id=delivery_id)


def notification_resend(*, notification_id) -> Notification:
    """Admin: send an `unknown` or `failed` notification again, in the background, as a fresh cycle of
    the engine's attempts. The admin takes the risk of a duplicate for `unknown`: never automatic."""
    with transaction.atomic():
        claimed = Notification.objects.filter(pk=notification_id, status__in=(Status.UNKNOWN, Status.FAILED)).update(
            status=Status.PENDING)
        notification = Notification.objects.select_related("recipient").get(pk=notification_id)
        if not claimed:
            raise ApplicationError("Повторить можно только уведомление со статусом «Ошибка» или «Неизвестно».",
                                   field="status")
        _redeliver(notification, synchronous=False)
    return notification


# --- internals ----------------------------------------------------------------------------


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _replay_or_retry(existing: Notification, fingerprint: str) -> Notification:
    """The stored final answer; after a provider failure (500, `failed`) the same key tries again.

    The claim is one conditional UPDATE, so concurrent retries try once (the others get 409).
    """
    if existing.request_fingerprint != fingerprint:
        raise ApplicationError("Idempotency-Key уже использован с другим запросом.", field="Idempotency-Key")
    if existing.is_async or existing.status != Status.FAILED or existing.http_status != 500:
        return existing
    with transaction.atomic():
        claimed = Notification.objects.filter(pk=existing.pk, status=Status.FAILED, http_status=500).update(
            status=Status.PENDING, http_status=None)
        existing.refresh_from_db()
        if not claimed:
            return existing
        _redeliver(existing, synchronous=True)
    return _deliver_sync(existing)


def _delivery_create(notification: Notification, *, synchronous: bool) -> None:
    """A new engine row for a stored notification (kind `notification`); the notification keeps the history."""
    delivery = engine.delivery_create(kind=Delivery.Kind.NOTIFICATION, tenant_id=None, provider_id=None,
                                      endpoint=notification.service, url="", synchronous=synchronous,
                                      payload={"notification": str(notification.pk)}, request_id=request_id_get())
    notification.delivery_id = delivery.pk  # no cached instance: the row moves on without it
    notification.save(update_fields=["delivery"])


def _rows_insert(notification: Notification, *, synchronous: bool) -> None:
    """The engine's row for this send and the history row linked to it, in one statement on PostgreSQL
    (issue 19: the ORM's two `create()`s and their transaction cost more than the rows). The engine's row is
    written as `engine.delivery_create` writes it: pending, due now, never claimed, so if the process dies
    before the first attempt the sweeper sends it; an asynchronous one is dispatched after commit."""
    kind = Delivery.Kind.NOTIFICATION
    delivery = engine.delivery_values(kind=kind, endpoint=notification.service, url="", synchronous=synchronous,
                                      payload={"notification": str(notification.pk)}, request_id=request_id_get())
    notification.timestamp = notification.timestamp or timezone.now()  # auto_now_add, as `save()` sets it
    history = {field.attname: getattr(notification, field.attname) for field in Notification._meta.concrete_fields}
    notification.delivery_id = insert_linked(Delivery, delivery, Notification, history, link="delivery_id")
    notification._state.adding, notification._state.db = False, router.db_for_write(Notification)  # as after save()
    if not synchronous:
        engine.dispatch_on_commit(notification.delivery_id, kind=kind)


def _redeliver(notification: Notification, *, synchronous: bool) -> None:
    """A fresh cycle of attempts on the notification's engine row (a new row if it was cancelled)."""
    status = Delivery.objects.filter(pk=notification.delivery_id).values_list("status", flat=True).first()
    if status in engine.RETRYABLE_STATUSES:
        engine.delivery_retry(delivery_id=notification.delivery_id, synchronous=synchronous)
    else:
        _delivery_create(notification, synchronous=synchronous)


@dataclass
class _Held:
    """What `/send` has just written and read, lent to the engine's attempts made before the API answers."""

    notification: Notification
    target: Target | None  # the address read with the recipient: the first attempt's only
    finished: bool = False  # `on_final` mirrored the final status into `notification`


# By delivery id, while `_deliver_sync` waits: the kind then reads neither row again (issue 19).
_held: dict[int, _Held] = {}


def _deliver_sync(notification: Notification, *, target: Target | None = None) -> Notification:
    """Deliver before answering, within NOTIFICATIONS_SYNC_DEADLINE seconds: the engine's attempts run
    in this process; a transient failure is retried while the wait the engine schedules fits."""
    held = _held[notification.delivery_id] = _Held(notification, target)
    try:
        engine.delivery_send_inline(delivery_id=notification.delivery_id, kind=Delivery.Kind.NOTIFICATION,
                                    deadline=time.monotonic() + settings.NOTIFICATIONS_SYNC_DEADLINE)
    finally:
        _held.pop(notification.delivery_id, None)
    if not held.finished:  # finished by another process (a sweeper after a lost lease), or not at all
        notification.refresh_from_db()
    return notification


# --- the engine's kind: one send of a notification to one transport -----------------------------

NOT_LINKED = "not_linked"


@register
class _NotificationKind(Kind):
    name = Delivery.Kind.NOTIFICATION

    def retry_schedule(self) -> list[float]:
        return list(settings.NOTIFICATIONS_RETRY_SCHEDULE)

    def max_attempts(self) -> int:
        return settings.NOTIFICATIONS_MAX_ATTEMPTS

    def drops_duplicates(self, delivery) -> bool:
        return get_transport(delivery.endpoint).drops_duplicates  # OneSignal, VK: yes; Telegram, email: no

    def lease_seconds(self, delivery) -> float:
        return settings.NOTIFICATIONS_CHANNEL_TIMEOUT * 3

    def send(self, delivery) -> Attempt:
        held = _held.get(delivery.pk)
        notification = held.notification if held else _notification_of(delivery)
        recipient, transport = notification.recipient, get_transport(notification.service)
        target = held and held.target or transport.target(recipient)
        if held:
            held.target = None  # a retry reads the address again
        if target is None:  # unbound or deactivated since the request was accepted
            _attempt_uncount(notification.delivery_id, None if held else notification)
            return Attempt(PERMANENT, error=transport.not_linked(), response=NOT_LINKED)
        wait = _rate_limit_wait(transport, target)
        if wait:
            _attempt_uncount(notification.delivery_id, None if held else notification)
            return Attempt(DEFERRED, error="Превышен лимит отправки, ждём окно.", retry_after=wait)
        rendered = transport.render(role=recipient.role, subject=notification.subject, type=notification.type,
                                  message=notification.message)
        if held:
            notification.attempts += 1  # counted in the row by the claim (`claim_also`); a row read since has it
        started = time.monotonic()
        try:
            result = transport.send(notification_id=notification.pk, target=target, rendered=rendered)
        except DeliveryError as error:
            logger.warning("notification %s attempt failed: %s", notification.pk, error)
            transport.deactivate(recipient, error.deactivate, reason=str(error))
            return Attempt(transport.outcome(error), error=str(error)[:2000], retry_after=error.retry_after,
                           latency_ms=_ms_since(started))
        return Attempt(SUCCESS, latency_ms=_ms_since(started), external_id=result.external_id,
                       response=(target, result, rendered, notification))

    def claim_also(self) -> str:
        """One more attempt on the history row, counted by the claim (before the call: a process that dies in it
        still counted it), not by a statement of its own (issue 19)."""
        table = connection.ops.quote_name(Notification._meta.db_table)
        return f"UPDATE {table} SET attempts = attempts + 1 WHERE delivery_id IN (SELECT claim_pk FROM taken)"  # noqa: S608

    def claim_undo(self, delivery) -> None:
        _attempt_uncount(delivery.pk)

    def hook_needed(self, name: str, delivery, *args) -> bool:
        if name != "on_success":
            return True
        _target, result, _rendered, notification = args[0].response
        # Nothing to switch off and no history of the transport's own (Telegram, VK, email): no savepoint.
        return bool(result.dead_addresses) or _records_sent(get_transport(notification.service))

    def on_success(self, delivery, attempt: Attempt) -> None:
        # The row read for the send: only its fixed fields (recipient, subject, text) are used here.
        target, result, rendered, notification = attempt.response
        transport = get_transport(notification.service)
        transport.deactivate(notification.recipient, result.dead_addresses, reason=transport.dead_address_reason)
        transport.record_sent(notification=notification, target=target, result=result, rendered=rendered)

    def on_refused(self, delivery, attempt: Attempt) -> None:
        delivery.not_linked = attempt.response == NOT_LINKED  # read by on_final, in this transaction

    def success_at_once(self, delivery, attempt: Attempt) -> list[AlsoSql] | None:
        """`/send`'s own attempt with nothing for `on_success` to do: `on_final`'s UPDATE of the lent history row,
        in the record's one statement. A queued send (it reads its history row) takes the general record."""
        held = _held.get(delivery.pk)
        if held is None or self.hook_needed("on_success", delivery, attempt):
            return None
        notification = held.notification
        if notification.delivery_id != delivery.pk or notification.status != Status.PENDING:
            return None
        values = _final_values(status=Status.SENT, error="", http_status=None if notification.is_async else 200,
                               external_id=attempt.external_id)
        sql, params = update_row_sql(Notification, notification.pk, values,
                                     where={"delivery": delivery.pk, "status": Status.PENDING})

        def after(rows: int) -> None:
            if rows:
                _finished_with(notification, values)
                held.finished = True

        return [AlsoSql(f"{sql} AND {{ours}} RETURNING 1", params, after)]

    def on_final(self, delivery) -> None:
        """The history row mirrors the engine's final status; a synchronous send gets its API answer.
        One UPDATE when `/send` lent the row (its fixed fields are all this reads)."""
        held = _held.get(delivery.pk)
        notification = held.notification if held else _notification_of(delivery)
        if notification.delivery_id != delivery.pk or notification.status != Status.PENDING:
            return  # a superseded row, or already final
        status = {Delivery.Status.DELIVERED: Status.SENT, Delivery.Status.UNKNOWN: Status.UNKNOWN}.get(
            delivery.status, Status.FAILED)
        http_status = None
        if not notification.is_async:
            not_linked = getattr(delivery, "not_linked", False)
            http_status = 200 if status == Status.SENT else 404 if not_linked else 500
        error = delivery.last_error
        if status == Status.UNKNOWN and not error.endswith("не повторяется"):
            error = f"{error} — возможно, доставлено; не повторяется"
        if _finish(notification, status=status, error="" if status == Status.SENT else error,
                   http_status=http_status, delivery_id=delivery.pk, external_id=delivery.provider_message_id):
            if held:
                held.finished = True


def _attempt_uncount(delivery_id: int, notification: Notification | None = None) -> None:
    """The claim counted an attempt (`claim_also`) that makes no call (no address, a rate limit's wait, a `prepare`
    that failed): taken back, so `attempts` counts the calls made. A statement only on these rare paths.
    `notification`: an instance read after the claim (it has the count), to correct as well. On the engine's
    connection, where the claim counted it."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET attempts = attempts - 1 WHERE delivery_id = %s AND attempts > 0",  # noqa: S608
                       [delivery_id])
    if notification is not None:
        notification.attempts = max(notification.attempts - 1, 0)


def _records_sent(transport) -> bool:
    return type(transport).record_sent is not Transport.record_sent


def _notification_of(delivery) -> Notification:
    return Notification.objects.select_related("recipient").get(pk=delivery.payload["notification"])


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _rate_limit_wait(transport, target: Target) -> float:
    """Wait (briefly) for a slot in the shared limits; returns the remaining wait if none came."""
    limits = transport.rate_limits(target)
    for _ in range(3):
        wait = acquire_all(limits)
        if not wait or wait > 1.0:
            return wait
        time.sleep(wait)
    return acquire_all(limits)


def _finish(notification: Notification, *, delivery_id: int, **final) -> bool:
    """The final status, in one UPDATE that holds only while the row is still pending on this delivery
    (not superseded, not already final); False when it did not."""
    values = _final_values(**final)
    # Plain SQL (config/sql.py): the ORM's UPDATE cost more CPU to build than to run.
    if not update_row(Notification, notification.pk, values, where={"delivery": delivery_id, "status": Status.PENDING}):
        return False
    _finished_with(notification, values)
    return True


def _final_values(*, status: str, error: str, http_status: int | None, external_id: str) -> dict:
    values = {"status": status, "last_error": error[:2000]}
    if status == Status.SENT:
        values.update(sent_at=timezone.now(), external_id=external_id[:255])
    if http_status is not None:
        values["http_status"] = http_status
    return values


def _finished_with(notification: Notification, values: dict) -> None:
    for name, value in values.items():
        setattr(notification, name, value)
    _finished(notification)


def _finished(notification: Notification) -> None:
    """After a final status is written: the metric, and the notify request's next step."""
    status = notification.status
    notification_observe(channel=notification.service, outcome=status)  # observability hook (issue 20)
    if notification.notify_request_id and status != Status.PENDING:
        from notifications.services.notify import notify_send_finished  # notify builds on sending

        notify_send_finished(notify_id=notification.notify_request_id)
