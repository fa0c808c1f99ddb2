"""The life of one outbound call, whatever its kind: the row, the claim and lease, one attempt, the
outcome, retry, dead letters, the sweeper, admin retry and cancel (docs/delivery-engine.md).

    pending ──claim──▶ in_progress ──success──▶ delivered
       ▲                   │ transient (network, 408/425/429/5xx, SMTP 4xx); ambiguous where the
       └──── backoff ──────┤ receiver drops repeats
                           ├──▶ refused (permanent: 4xx, SMTP 5xx, blocked bot; the kind's on_refused)
                           ├──▶ unknown (ambiguous where the receiver cannot drop a repeat: never re-sent)
                           └──▶ dead    (broken, or attempts exhausted)
    pending / in_progress / dead ──admin or deactivation──▶ cancelled
    dead / refused / unknown / cancelled ──admin retry──▶ pending (a fresh cycle of attempts)

The row is `communications.Delivery` (+ `DeliveryAttempt`, the attempt log). Rows sharing (kind, tenant,
provider, ordering_key) go out in id order: a row waits while an earlier one of its chain is pending, in
progress or dead. A kind (`delivery/kinds.py`) only makes the call and classifies the answer.
A `synchronous` row is attempted by the process that answers the API request (`delivery_send_inline`):
no Celery retries; the sweeper takes it only once that process is surely gone.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import BooleanField, Exists, F, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.db import is_lock_race
from config.errors import ConflictError
from config.observability.metrics import delivery_send_observe
from config.observability.request_id import request_id_bind
from config.sql import (
    MARK,
    compiled,
    conditions_sql,
    insert_row,
    insert_row_sql,
    literal,
    literals,
    rows_inlined,
    update_row,
    update_row_sql,
)
from delivery import feed
from delivery.dispatch import dispatch
from delivery.kinds import Attempt, Kind, kind_get
from delivery.outcomes import AMBIGUOUS, BROKEN, DEFERRED, PERMANENT, SUCCESS, TRANSIENT

logger = logging.getLogger(__name__)

LOST_TEXT = "попытка прервана: воркер не завершил её до истечения аренды"
_on_delivered: dict[str, Callable] = {}
_on_delivered_sql: dict[str, Callable] = {}


def _models():
    from communications.models import Delivery, DeliveryAttempt

    return Delivery, DeliveryAttempt


def on_delivered_handler(name: str, *, sql: Callable | None = None):
    """Register `func(delivery)` to run, in the transaction that marks a delivery delivered, for
    deliveries queued with `on_delivered=name`. The registering module must be imported at startup.
    `sql(delivery, attempt)`: the same as statements of the one-statement record of the success (a list of
    `AlsoSql`, as `Kind.success_at_once`; None: `func`, in the general record)."""

    def register(func):
        _on_delivered[name] = func
        if sql is not None:
            _on_delivered_sql[name] = sql
        return func

    return register


# --- create and dispatch -------------------------------------------------------------

def delivery_create(*, kind: str, ordering_key: str = "", synchronous: bool = False, **fields):
    """Write the row in the caller's transaction; publish it after commit (not a synchronous one).
    A new row is pending, never claimed: if the process dies before its first attempt, the sweeper sends it."""
    Delivery, _ = _models()
    if ordering_key:
        chain_lock(kind, fields.get("tenant_id"), fields.get("provider_id"), ordering_key)
    delivery = Delivery.objects.create(**delivery_values(kind=kind, ordering_key=ordering_key, synchronous=synchronous,
                                                         **fields))
    if not synchronous:
        dispatch_on_commit(delivery.pk, kind=kind)
    return delivery


def delivery_values(*, kind: str, ordering_key: str = "", synchronous: bool = False, **fields) -> dict:
    """The fields of a new row as `delivery_create` writes it (pending, due now, never claimed), for a caller that
    writes the row with a statement of its own (`/send`, the operator's send): the same row, one place to say it.
    Such a caller takes the chain's lock before the row and publishes it after commit, as `delivery_create` does."""
    return {"kind": kind, "ordering_key": ordering_key, "synchronous": synchronous, "next_attempt_at": timezone.now(),
            **fields}


def chain_lock(kind, tenant_id, provider_id, ordering_key) -> None:
    """Serialise writers of one chain until commit, so id order == commit order."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises all writers anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain_lock_key(kind, tenant_id, provider_id, ordering_key)])


def chain_lock_key(kind, tenant_id, provider_id, ordering_key) -> int:
    """The advisory-lock key of a chain (`chain_lock`; a statement that takes it itself uses this one)."""
    digest = hashlib.blake2b(f"{kind}:{tenant_id}:{provider_id}:{ordering_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _dispatch(delivery_id: int, countdown: float | None = None, kind: str = "") -> bool:
    """Send the task to the broker (one fail-fast attempt), to the kind's queue with its time limits.
    Never raises: the sweeper covers a failure."""
    from communications.tasks import delivery_send_task

    sender = kind_get(kind)
    return dispatch(delivery_send_task, args=[delivery_id, kind], countdown=countdown, queue=sender.queue(),
                    time_limits=sender.time_limits(), on_failure=partial(_sweep_at_once, delivery_id),
                    label=f"delivery {delivery_id}")


def _sweep_at_once(delivery_id: int) -> None:
    """After a failed dispatch, let the very next sweep take the row (no grace period)."""
    Delivery, _ = _models()
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE), swept_at=None)


def _hand_off(delivery_id: int, kind: str = "") -> None:
    """A row due now: to the feed of its queue when it has one (`delivery/feed.py`: no Celery message per row),
    else, or when Redis fails, a message of its own. Never raises."""
    sender = kind_get(kind)
    if sender.time_limits() is None and feed.enabled(queue := sender.queue()):
        try:
            feed.push(delivery_id, kind, queue)
            return
        except Exception:
            logger.warning("delivery %s: the feed failed; publishing a message instead", delivery_id, exc_info=True)
    _dispatch(delivery_id, kind=kind)


def dispatch_on_commit(delivery_id: int, countdown: float | None = None, kind: str = "") -> None:
    """After commit: a retry (`countdown`) as a Celery message with a countdown, a row due now handed off."""
    if countdown is None:
        transaction.on_commit(partial(_hand_off, delivery_id, kind), robust=True)
    else:
        transaction.on_commit(partial(_dispatch, delivery_id, countdown, kind), robust=True)


# --- one task, several rows of a chain -----------------------------------------------------

_draining = threading.local()  # .queue: the released rows the running `delivery_drain` takes next


def _release(delivery_id: int, kind: str) -> None:
    """After commit: the next row of a chain is due. A draining task takes it itself (no message);
    otherwise it goes out as a message of its own."""
    queue = getattr(_draining, "queue", None)
    if queue is not None and kind_get(kind).time_limits() is None:
        queue.append((delivery_id, kind))
    else:
        _hand_off(delivery_id, kind)


def delivery_drain(*, delivery_id: int, kind: str = "") -> str:
    """What the task runs: `delivery_send`, then the rows of the chain it releases, one after another, in
    this task (each claimed, leased and recorded as usual) for up to DELIVERY_DRAIN_MAX rows and while
    DELIVERY_DRAIN_SECONDS have not passed, instead of a Celery message each. What it does not take goes
    out as messages; if the process dies meanwhile, the sweeper sends them, as after a lost dispatch.
    Returns the outcome word of the first row."""
    previous, queue = getattr(_draining, "queue", None), []
    _draining.queue = queue
    started, taken = time.monotonic(), 1
    try:
        word = delivery_send(delivery_id=delivery_id, kind=kind)
        while (queue and taken < settings.DELIVERY_DRAIN_MAX
               and time.monotonic() - started < settings.DELIVERY_DRAIN_SECONDS):
            next_id, next_kind = queue.pop(0)
            taken += 1
            delivery_send(delivery_id=next_id, kind=next_kind)
    finally:
        _draining.queue = previous
        for next_id, next_kind in queue:
            _hand_off(next_id, next_kind)
    return word


# --- one attempt ---------------------------------------------------------------------

def delivery_send(*, delivery_id: int, kind: str = "") -> str:
    """Make one attempt if the row is due and first in its chain. Safe to run twice or concurrently:
    returns a short outcome word. `kind`: the row's kind when the caller knows it (saves a query)."""
    claimed = _claim(delivery_id, kind)
    if isinstance(claimed, str):
        return claimed
    delivery, number, started_at = claimed
    request_id_bind(delivery.request_id)  # observability (issue 20): logs and X-Request-Id of this attempt
    try:
        attempt = kind_get(delivery.kind).send(delivery)
    except Exception as exc:  # a bug in the kind's code: never leave the row in progress
        logger.exception("delivery %s: the %s sender failed", delivery.pk, delivery.kind)
        attempt = Attempt(BROKEN, error=f"ошибка отправителя: {exc}"[:2000])
    word = _record_until_stored(delivery, number, started_at, attempt)
    delivery_send_observe(delivery=delivery, outcome=word, latency_ms=attempt.latency_ms, started_at=started_at)
    return word


def delivery_send_inline(*, delivery_id: int, deadline: float, kind: str = ""):
    """Attempts by this process until the row is final or `time.monotonic()` reaches `deadline`; a row
    still waiting for a retry then is dead. For synchronous rows (an API answer waits for them). Returns the
    row's final status."""
    Delivery, _ = _models()
    while True:
        word = delivery_send(delivery_id=delivery_id, kind=kind)
        if word in _RECORDED_FINAL:
            return word  # this attempt made it final: nothing to read again
        delivery = Delivery.objects.get(pk=delivery_id)
        kind = delivery.kind
        if delivery.is_final:
            return delivery.status
        wait = max((delivery.next_attempt_at - timezone.now()).total_seconds(), 0.05)
        if delivery.status == Delivery.Status.IN_PROGRESS:
            wait = 0.1  # another process holds it (a sweeper after a crash): wait for its answer
        if time.monotonic() + wait > deadline:
            return _give_up(delivery_id, "время ожидания ответа API истекло; автоматически не повторяется").status
        time.sleep(wait)


# Outcome words of `delivery_send` that are the row's final status, written by that very call.
_RECORDED_FINAL = ("delivered", "refused", "unknown", "dead")


@transaction.atomic
def _give_up(delivery_id: int, reason: str):
    Delivery, _ = _models()
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status == Delivery.Status.PENDING:
        _finish(delivery, Delivery.Status.DEAD, f"{delivery.last_error}; {reason}".lstrip("; "))
    return delivery


def _record_until_stored(claimed, number, started_at, attempt: Attempt, *, tries: int = 3) -> str:
    """The receiver has answered: store that even when PostgreSQL aborts `_record` to break a deadlock
    (it rolled back as a whole, so running it again is safe). Otherwise the row would wait for its lease
    to expire and be sent again."""
    for _ in range(tries - 1):
        try:
            return _record(claimed, number, started_at, attempt)
        except OperationalError as exc:
            if not is_lock_race(exc):
                raise
            logger.warning("delivery %s: recording the answer lost a lock race; recording again", claimed.pk)
    return _record(claimed, number, started_at, attempt)


def claim_queryset(delivery_id: int, kind: Kind):
    """The claim's one query: the row (locked, or none if another worker holds it), what the attempt reads
    (tenant binding, provider, configuration), whether an earlier row of its chain is still open
    (`chain_blocked`) and the kind's own gate facts (`Kind.claim_annotations`)."""
    Delivery, _ = _models()
    earlier_open = (Delivery.objects.filter(kind=OuterRef("kind"), tenant_id=OuterRef("tenant_id"),
                                            provider_id=OuterRef("provider_id"),
                                            ordering_key=OuterRef("ordering_key"), pk__lt=OuterRef("pk"))
                    .exclude(ordering_key="").exclude(status__in=Delivery.RELEASING_STATUSES))
    return (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant_configuration", "provider", "configuration")
            .annotate(chain_blocked=Exists(earlier_open), **kind.claim_annotations())
            .filter(pk=delivery_id, kind=kind.name))


def claim_query(kind: Kind):
    """The claim's query of this kind, compiled once (config/sql.py); also for the EXPLAIN tests."""
    return compiled(("claim", kind.name, type(kind)), partial(claim_queryset, MARK, kind))


def _claim(delivery_id: int, kind_name: str = ""):
    Delivery, _ = _models()
    if not kind_name:
        kind_name = Delivery.objects.filter(pk=delivery_id).values_list("kind", flat=True).first()
        if kind_name is None:
            return "locked"  # it never existed (or was pruned)
    kind = kind_get(kind_name)
    claimed = _claim_at_once(delivery_id, kind)
    if claimed is not None:
        return claimed
    claimed = _claim_in_transaction(delivery_id, kind)
    if not isinstance(claimed, Delivery):
        return claimed
    # Deferred behind an earlier row of its chain. If that row's answer was being recorded, its release may not
    # have seen this row (committed after the release statement's snapshot), and nothing would wake this one
    # before the recheck: so it is claimed again at once when the chain turns out to be clear.
    if _chain_open(claimed) or not Delivery.objects.filter(
            pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at=claimed.next_attempt_at).update(
            next_attempt_at=timezone.now()):
        return "blocked"
    claimed = _claim_in_transaction(delivery_id, kind)
    return "blocked" if isinstance(claimed, Delivery) else claimed


def _chain_open(delivery) -> bool:
    """Whether an earlier row of the chain is still open, waiting for any answer being recorded (FOR SHARE
    waits for a row's UPDATE to commit and then reads its new status). Runs with no row lock held: the record
    being waited for may have to lock this row to release it. SQLite: True (its writers are serialised)."""
    if connection.vendor != "postgresql":
        return True
    conditions, params = _chain_conditions(delivery)
    table = connection.ops.quote_name(type(delivery)._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {conditions} AND id < %s "  # noqa: S608 (model's own names; values bound)
                       f"AND status NOT IN ({literals(type(delivery).RELEASING_STATUSES)}) LIMIT 1 FOR SHARE",
                       [*params, delivery.pk])
        return cursor.fetchone() is not None


def _claim_in_transaction(delivery_id: int, kind: Kind):
    """The general claim: a claim tuple, an outcome word, or the row itself when it was deferred behind an earlier
    row of its chain (`DELIVERY_BLOCKED_RECHECK`)."""
    Delivery, DeliveryAttempt = _models()
    with transaction.atomic():
        delivery = claim_query(kind).get(delivery_id)
        if delivery is None:
            return "locked"  # another worker holds it right now (or it never existed)
        if delivery.is_final:
            return "final"
        now = timezone.now()
        if delivery.status == Delivery.Status.IN_PROGRESS:
            if delivery.lease_expires_at and delivery.lease_expires_at > now:
                return "busy"
            # The process that claimed it died mid-attempt.
            _log_attempt(delivery, delivery.attempts, delivery.updated_at, DeliveryAttempt.Outcome.INTERRUPTED,
                         error=LOST_TEXT)
            if not kind.drops_duplicates(delivery):
                _finish(delivery, Delivery.Status.UNKNOWN, f"{LOST_TEXT}; возможно, доставлено — "
                                                           "автоматически не повторяется")
                return "unknown"
            if delivery.attempts >= kind.max_attempts():
                _finish(delivery, Delivery.Status.DEAD, "попытки исчерпаны (последняя прервана)")
                return "dead"
        elif delivery.next_attempt_at > now + timedelta(seconds=2):
            return "not_due"
        stop = kind.gate(delivery)
        if stop:
            return stop
        if delivery.chain_blocked:
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=settings.DELIVERY_BLOCKED_RECHECK)
            delivery.lease_expires_at = None
            _store(delivery, "status", "next_attempt_at", "lease_expires_at")
            return delivery
        kind.prepare(delivery)
        delivery.status = Delivery.Status.IN_PROGRESS
        delivery.attempts += 1
        delivery.lease_expires_at = now + timedelta(seconds=kind.lease_seconds(delivery))
        _store(delivery, "status", "attempts", "lease_expires_at")
        also = kind.claim_also()
        if also is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"WITH taken (claim_pk) AS (VALUES (%s)) {also}", [delivery.pk])
        return delivery, delivery.attempts, now


# The usual claim as one statement (issue 19): the claim's query locks the row (SKIP LOCKED: a row another worker
# holds is not waited for) and the UPDATE takes it only if it is pending, due, first in its chain and the kind's
# gate would let it through (`Kind.claim_ready`). No row back: the general claim above decides (locked, final,
# busy, a lost lease, not due, the gate, blocked).
# A kind's `claim_also` runs in the same statement, on the rows the UPDATE took (`taken`).
_CLAIM_AT_ONCE = (
    "UPDATE {table} SET status = %s, attempts = {table}.attempts + 1, lease_expires_at = %s, "
    "updated_at = %s FROM claimed WHERE {table}.id = %s AND {table}.id = claimed.claim_pk AND {table}.status = %s "
    "AND {table}.next_attempt_at <= %s AND NOT claimed.chain_blocked AND claimed.claim_ready RETURNING claimed.*")
_claims_at_once: dict[type, bool] = {}  # kind class -> whether it has `claim_ready`


def claim_at_once_queryset(delivery_id: int, kind: Kind):
    """The claim's query with what the one-statement claim reads: the key under its own name, and the gate."""
    return claim_queryset(delivery_id, kind).annotate(claim_pk=F("pk"), claim_ready=kind.claim_ready())


def claim_at_once_statement(kind: Kind, delivery_id: int, now: datetime, lease: datetime) -> tuple:
    """The compiled claim query of this kind and what turns it into the one-statement claim (`Compiled.get`'s
    `around` and `params_after`); also for the EXPLAIN test. The UPDATE names the row by its key as well: joined only
    through the query, PostgreSQL walked every due row of the queue for each claim."""
    Delivery, _ = _models()
    query = compiled(("claim_at_once", kind.name, type(kind)), partial(claim_at_once_queryset, MARK, kind))
    table = connection.ops.quote_name(Delivery._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    update, also = _CLAIM_AT_ONCE.format(table=table), kind.claim_also()
    after = f") {update}"
    if also is not None:
        after = f"), taken AS ({update}), also AS ({also}) SELECT * FROM taken"  # noqa: S608 (the engine's and kind's SQL)
    return query, {"around": ("WITH claimed AS (", after),
                   "params_after": (Delivery.Status.IN_PROGRESS, adapt(lease), adapt(now), delivery_id,
                                    Delivery.Status.PENDING, adapt(now + timedelta(seconds=2)))}


def _claim_at_once(delivery_id: int, kind: Kind):
    """The claim in one statement, outside a transaction (PostgreSQL; elsewhere, or for a kind without
    `claim_ready`: None, the general claim). Returns what `_claim` returns for a claimed row, or None."""
    Delivery, _ = _models()
    ready = _claims_at_once.get(type(kind))
    if ready is None:
        ready = _claims_at_once[type(kind)] = kind.claim_ready() is not None
    if not ready or connection.vendor != "postgresql":
        return None
    now = timezone.now()
    lease = now + timedelta(seconds=kind.lease_seconds(None))
    query, statement = claim_at_once_statement(kind, delivery_id, now, lease)
    delivery = query.get(delivery_id, **statement)
    if delivery is None:
        return None
    # The row as the UPDATE left it (RETURNING gave it as the query had read it).
    delivery.status, delivery.attempts = Delivery.Status.IN_PROGRESS, delivery.attempts + 1
    delivery.lease_expires_at, delivery.updated_at = lease, now
    try:
        kind.prepare(delivery)
    except Exception:
        # Nothing was sent: give the claim back (not counted) rather than leave a lease that would end as a
        # lost attempt, as the general claim's transaction does by rolling back.
        with transaction.atomic():
            update_row(Delivery, delivery.pk, {"status": Delivery.Status.PENDING, "attempts": delivery.attempts - 1,
                                               "lease_expires_at": None, "updated_at": timezone.now()})
            kind.claim_undo(delivery)
        raise
    return delivery, delivery.attempts, now


def chain(delivery):
    """The rows of `delivery`'s chain. A chain's key is not empty, and the SQL says so in a literal, as
    `_chain_conditions` does: a prepared statement's generic plan then reads the chain index."""
    Delivery, _ = _models()
    rows = Delivery.objects.filter(kind=delivery.kind, tenant_id=delivery.tenant_id,
                                   provider_id=delivery.provider_id, ordering_key=delivery.ordering_key)
    if delivery.ordering_key:
        column = f"{connection.ops.quote_name(Delivery._meta.db_table)}.{connection.ops.quote_name('ordering_key')}"
        rows = rows.filter(RawSQL(f"{column} <> ''", [], output_field=BooleanField()))  # noqa: S611 (our names)
    return rows


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


def _record(claimed, number, started_at, attempt: Attempt) -> str:
    if attempt.outcome == SUCCESS:
        word = _record_success_at_once(claimed, number, started_at, attempt)
        if word is not None:
            return word
    Delivery, DeliveryAttempt = _models()
    kind = kind_get(claimed.kind)
    with transaction.atomic():
        kind.lock(claimed)
        delivery = compiled(("record",), _record_queryset).get(claimed.pk)
        if delivery is None:
            raise Delivery.DoesNotExist(f"delivery {claimed.pk} is gone")
        now = timezone.now()
        ours = delivery.status == Delivery.Status.IN_PROGRESS and delivery.attempts == number
        answered = ()  # the answer's columns, written with whatever else the outcome changes
        if attempt.status_code is not None:
            delivery.response_status = attempt.status_code
            delivery.response_excerpt = attempt.excerpt
            answered = ("response_status", "response_excerpt")
        if attempt.outcome == DEFERRED:
            if not ours:
                return "superseded"
            # Not attempted (a shared rate limit): not counted, back in line after the wait.
            delivery.status, delivery.attempts, delivery.lease_expires_at = Delivery.Status.PENDING, number - 1, None
            delivery.next_attempt_at = now + timedelta(seconds=attempt.retry_after or 1)
            _store(delivery, "status", "attempts", "lease_expires_at", "next_attempt_at", *answered)
            if not delivery.synchronous:
                dispatch_on_commit(delivery.pk, countdown=attempt.retry_after or 1, kind=delivery.kind)
            return "deferred"
        duplicates_dropped = kind.drops_duplicates(delivery)
        retryable = attempt.outcome == TRANSIENT or (attempt.outcome == AMBIGUOUS and duplicates_dropped)
        max_attempts = kind.max_attempts()
        if attempt.outcome == SUCCESS:
            outcome = DeliveryAttempt.Outcome.SUCCESS
        elif attempt.outcome == PERMANENT:
            outcome = DeliveryAttempt.Outcome.REFUSED
        elif attempt.outcome == AMBIGUOUS and not duplicates_dropped:
            outcome = DeliveryAttempt.Outcome.UNKNOWN
        elif retryable and number < max_attempts:
            outcome = DeliveryAttempt.Outcome.RETRY
        else:
            outcome = DeliveryAttempt.Outcome.FAILED
        _log_attempt(delivery, number, started_at, outcome, status_code=attempt.status_code,
                     latency_ms=attempt.latency_ms, error=attempt.error)
        if not ours:
            # Cancelled meanwhile, or our lease expired and someone else took over.
            _store(delivery, *answered)
            return "superseded"
        delivery.lease_expires_at = None
        if outcome == DeliveryAttempt.Outcome.SUCCESS:
            delivery.delivered_at = now
            delivery.last_error = ""
            delivery.response_json = attempt.response_json
            delivery.provider_message_id = attempt.external_id[:255]
            _run_kind_hook(kind, "on_success", delivery, attempt)
            if delivery.on_delivered:
                handler = _on_delivered.get(delivery.on_delivered)
                _run_hook(delivery, delivery.on_delivered, partial(handler, delivery) if handler else None)
            _finish(delivery, Delivery.Status.DELIVERED, delivery.last_error,
                    stored=("delivered_at", "response_json", "provider_message_id", *answered))
            return "delivered"
        if outcome == DeliveryAttempt.Outcome.REFUSED:
            delivery.last_error = attempt.error
            _run_kind_hook(kind, "on_refused", delivery, attempt)
            _finish(delivery, Delivery.Status.REFUSED, delivery.last_error, stored=answered)
            log = logger.info if kind.quiet_refusal(delivery) else logger.warning
            log("delivery %s (%s %s) refused: %s", delivery.pk, delivery.kind, delivery.endpoint, attempt.error)
            return "refused"
        if outcome == DeliveryAttempt.Outcome.UNKNOWN:
            _finish(delivery, Delivery.Status.UNKNOWN,
                    f"{attempt.error} — возможно, доставлено; автоматически не повторяется", stored=answered)
            return "unknown"
        if outcome == DeliveryAttempt.Outcome.RETRY:
            retry_after = attempt.retry_after
            delay = kind.retry_delay(number, retry_after)
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.last_error = attempt.error
            _store(delivery, "status", "next_attempt_at", "last_error", "lease_expires_at", *answered)
            if not delivery.synchronous and delay <= settings.CELERY_MAX_COUNTDOWN:
                dispatch_on_commit(delivery.pk, countdown=delay, kind=delivery.kind)
            # Longer waits: the sweeper sends it when next_attempt_at is due.
            return "retry"
        suffix = " (попытки исчерпаны)" if retryable else ""
        _finish(delivery, Delivery.Status.DEAD, attempt.error + suffix, stored=answered)
        logger.warning("delivery %s (%s %s) is dead: %s", delivery.pk, delivery.kind, delivery.endpoint,
                       attempt.error)
        return "dead"


@dataclass
class _SuccessStatement:
    """The one-statement record of a success (`success_statement`) and what reading its row back needs."""

    sql: str
    params: list
    values: dict  # the row's columns it writes
    statements: list  # the hooks' AlsoSql, in the order of their CTEs
    names: list[str]
    release: bool  # it makes the chain's next row due


def _record_success_at_once(claimed, number, started_at, attempt: Attempt) -> str | None:
    """A success recorded by one statement, outside a transaction (issue 19; PostgreSQL): the kind's locks first
    (`Kind.lock_sql`), the row delivered if this attempt still holds it, its attempt log, the `on_delivered` handler's
    and the kind's hooks as SQL (`on_delivered_handler(sql=…)`, `Kind.success_at_once`), the next row of its chain
    due. None, with nothing written: the general record decides (the row is no longer ours, a hook or a lock only in
    Python, or the statement failed)."""
    if connection.vendor != "postgresql":
        return None
    built = success_statement(claimed, number, started_at, attempt)
    if built is None:
        return None
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(built.sql, built.params)
            row = cursor.fetchone()
    except DatabaseError as exc:
        if is_lock_race(exc):
            raise  # `_record_until_stored` records the answer again
        logger.exception("delivery %s: the one-statement record failed; recording in steps", claimed.pk)
        return None
    if row[0] is None:
        return None  # cancelled meanwhile, or our lease expired and someone else took over
    for name, value in built.values.items():
        setattr(claimed, name, value)
    statements = built.statements
    following = row[1 + len(statements)] if built.release else None
    if following is None and built.release and statements and row[-1] is not None:
        following = _chain_next_due(claimed)  # a statement above wrote the next row: released by one of its own
    if following is not None:
        transaction.on_commit(partial(_release, following, claimed.kind), robust=True)
    for name, statement, count in zip(built.names, statements, row[1:], strict=False):
        if statement.after is not None:
            _after_recorded(claimed, number, name, partial(statement.after, count))
    return "delivered"


def success_statement(claimed, number, started_at, attempt: Attempt) -> _SuccessStatement | None:
    """The statement `_record_success_at_once` runs (also for the EXPLAIN test), or None: a hook or a lock has no SQL
    form (the general record decides)."""
    Delivery, DeliveryAttempt = _models()
    kind = kind_get(claimed.kind)
    also = kind.success_at_once(claimed, attempt)
    lock = kind.lock_sql(claimed)
    if also is None or (lock is None and type(kind).lock is not Kind.lock):  # a lock only in Python
        return None
    handled = []
    if claimed.on_delivered:
        form = _on_delivered_sql.get(claimed.on_delivered)
        try:
            handled = form(claimed, attempt) if form else None
        except Exception:
            handled = None  # the handler itself, in the general record, fails the same way (logged there)
        if handled is None:
            return None
    now = timezone.now()
    values = {"status": Delivery.Status.DELIVERED, "lease_expires_at": None, "last_error": "", "delivered_at": now,
              "response_json": attempt.response_json, "provider_message_id": attempt.external_id[:255],
              "updated_at": now}
    if attempt.status_code is not None:
        values.update(response_status=attempt.status_code, response_excerpt=attempt.excerpt)
    stored_sql, stored_params = update_row_sql(Delivery, claimed.pk, values,
                                               where={"status": Delivery.Status.IN_PROGRESS, "attempts": number})
    parts, params = [], []
    if lock is not None:  # the lock order: the row is read (and locked) only after the kind's rows
        parts.append(lock.sql)
        params += lock.params
        stored_sql += f" AND (SELECT count(*) FROM {lock.last}) >= 0"  # noqa: S608 (our own names)
    logged_sql, logged_params = insert_row_sql(DeliveryAttempt, _attempt_values(
        claimed, number, started_at, DeliveryAttempt.Outcome.SUCCESS, status_code=attempt.status_code,
        latency_ms=attempt.latency_ms, error=attempt.error), source="stored")
    parts += [f"stored AS ({stored_sql} RETURNING id)", f"logged AS ({logged_sql})"]
    results = ["(SELECT id FROM stored)"]
    params += stored_params + logged_params
    statements = [*also, *handled]
    names = [statement.name or f"also{index}" for index, statement in enumerate(statements)]
    for name, statement in zip(names, statements, strict=True):
        parts.append(f"{name} AS ({statement.sql.replace('{ours}', _OURS)})")
        results.append(f"(SELECT count(*) FROM {name})")  # noqa: S608 (our own names)
        params += statement.params
    release = bool(claimed.ordering_key)  # delivered releases its chain
    if release:
        # After the other statements (one-time filters): a row they wrote is skipped here (PostgreSQL writes a row
        # once per statement) and released by a statement of its own after this one.
        after = "".join(f" AND (SELECT count(*) FROM {name}) >= 0" for name in names)  # noqa: S608 (our own names)
        due_sql, due_params = chain_first_sql(claimed)
        next_sql, next_params = chain_next_sql(claimed, where=_OURS + after, first="due")
        parts += [f"due AS ({due_sql})", f"following AS ({next_sql})"]
        results.append("(SELECT id FROM following)")
        params += due_params + next_params
        if statements:  # the row the release would take, whether or not it could
            table = connection.ops.quote_name(Delivery._meta.db_table)
            results.append(f"(SELECT id FROM {table} WHERE id = (SELECT id FROM due) AND attempts = 0)")  # noqa: S608 (our own names)
    sql = f"WITH {', '.join(parts)} SELECT {', '.join(results)}"
    return _SuccessStatement(sql, params, values, statements, names, release)


_OURS = "EXISTS (SELECT 1 FROM stored)"  # in the one-statement record: this attempt's UPDATE took the row


def _after_recorded(delivery, number, name: str, after) -> None:
    """A statement's `after`, once the success is stored (outside its statement): a failure is logged and goes to
    the row's last_error, as a failed hook's (`_run_hook`); the answer stays recorded."""
    Delivery, _ = _models()
    try:
        after()
    except Exception as exc:
        logger.exception("delivery %s: handler %s failed", delivery.pk, name)
        delivery.last_error = f"{delivery.last_error}; обработчик ответа упал: {exc}".lstrip("; ")[:2000]
        update_row(Delivery, delivery.pk, {"last_error": delivery.last_error},
                   where={"status": Delivery.Status.DELIVERED, "attempts": number})


def _record_queryset():
    """The record step's row lock (with the binding its hooks read), compiled once (config/sql.py)."""
    Delivery, _ = _models()
    return Delivery.objects.select_for_update(of=("self",)).select_related("tenant_configuration").filter(pk=MARK)


def _log_attempt(delivery, number, started_at, outcome, *, status_code=None, latency_ms=None, error="") -> None:
    _, DeliveryAttempt = _models()
    insert_row(DeliveryAttempt, _attempt_values(delivery, number, started_at, outcome, status_code=status_code,
                                                latency_ms=latency_ms, error=error))


def _attempt_values(delivery, number, started_at, outcome, *, status_code=None, latency_ms=None, error="") -> dict:
    return {"delivery": delivery.pk, "number": number, "started_at": started_at, "outcome": outcome,
            "status_code": status_code, "latency_ms": latency_ms, "error": error[:2000]}


def _run_kind_hook(kind: Kind, name: str, delivery, *args) -> None:
    if getattr(type(kind), name) is getattr(Kind, name) or not kind.hook_needed(name, delivery, *args):
        return  # the kind has no such hook, or nothing for it to do: no savepoint to pay for
    _run_hook(delivery, name, partial(getattr(kind, name), delivery, *args))


def _run_hook(delivery, name: str, hook) -> None:
    """Run a hook in a savepoint: the receiver got the call, so a bug here must never re-send it."""
    try:
        if hook is None:
            raise LookupError(f"обработчик {name!r} не зарегистрирован")
        with transaction.atomic():
            hook()
    except Exception as exc:
        if is_lock_race(exc):
            raise  # not a bug: `_record_until_stored` records the whole answer again
        logger.exception("delivery %s: handler %s failed", delivery.pk, name)
        delivery.last_error = f"{delivery.last_error}; обработчик ответа упал: {exc}".lstrip("; ")[:2000]


def _store(delivery, *fields: str, release: bool = False) -> int | None:
    """Write these columns of the row (and `updated_at`): one UPDATE of what changed, never the whole row
    (a full `save()` re-encodes the JSON payload and sends every column). `release`: the row no longer holds its
    chain; the next row of the chain becomes due in the same statement (`_chain_next_due`, on PostgreSQL); returns
    its id."""
    delivery.updated_at = timezone.now()
    values = {name: getattr(delivery, name) for name in (*fields, "updated_at")}
    if not release:
        update_row(type(delivery), delivery.pk, values)
        return None
    if connection.vendor != "postgresql":
        update_row(type(delivery), delivery.pk, values)
        return _chain_next_due(delivery)
    # Both UPDATEs in one statement: they touch different rows (this one; the next, id > this id).
    stored_sql, stored_params = update_row_sql(type(delivery), delivery.pk, values)
    next_sql, next_params = chain_next_sql(delivery)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH stored AS ({stored_sql}) {next_sql}", [*stored_params, *next_params])
        row = cursor.fetchone()
    return row[0] if row else None


def _finish(delivery, status: str, error: str = "", *, stored: tuple[str, ...] = ()) -> None:
    """Move to a final status, release the next row of the chain, run the kind's on_final hook.
    `stored`: other columns the caller changed on `delivery`, written in the same UPDATE."""
    delivery.status = status
    delivery.lease_expires_at = None
    delivery.last_error = error[:2000]
    release = status in type(delivery).RELEASING_STATUSES and bool(delivery.ordering_key)
    following = _store(delivery, "status", "lease_expires_at", "last_error", *stored, release=release)
    if following is not None:
        transaction.on_commit(partial(_release, following, delivery.kind), robust=True)
    _run_kind_hook(kind_get(delivery.kind), "on_final", delivery)


finish = _finish  # for kinds' gates


def chain_next_sql(delivery, *, where: str = "", first: str = "") -> tuple[str, list]:
    """The UPDATE of `_chain_next_due` (also for the EXPLAIN test): the chain's first pending row after
    `delivery`, if it was never attempted, becomes due now. Plain SQL (issue 19): the ORM built this on every
    delivered call of a chain. `where`: one more condition (SQL without parameters). `first`: the name of a CTE
    of `chain_first_sql` to read the row from (else its SELECT is a subquery here)."""
    table = connection.ops.quote_name(type(delivery)._meta.db_table)
    first_sql, params = (f"SELECT id FROM {first}", []) if first else chain_first_sql(delivery)  # noqa: S608 (our names)
    sql = (f"UPDATE {table} SET next_attempt_at = %s WHERE id = ({first_sql}) AND attempts = 0"  # noqa: S608 (as above)
           f"{f' AND {where}' if where else ''} RETURNING id")
    return sql, [connection.ops.adapt_datetimefield_value(timezone.now()), *params]


def chain_first_sql(delivery) -> tuple[str, list]:
    """The SELECT of the chain's first pending row after `delivery` (its id)."""
    model = type(delivery)
    conditions, params = _chain_conditions(delivery)
    return (f"SELECT id FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {conditions} "  # noqa: S608 (model's own names; values bound)
            f"AND id > %s AND status = {literal(model.Status.PENDING)} ORDER BY id LIMIT 1", [*params, delivery.pk])


def _chain_conditions(delivery) -> tuple[str, list]:
    """SQL (and its parameters) that selects the rows of `delivery`'s chain. A chain's key is never empty, and the SQL
    says so in a literal, as the statuses after it: the plan PostgreSQL keeps for a prepared statement (made without
    the values) can then read the chain indexes, whose condition is a non-empty key (test_explain.py)."""
    sql, params = conditions_sql(type(delivery), {name: getattr(delivery, name) for name in _CHAIN_KEY})
    if delivery.ordering_key:
        sql += f" AND {connection.ops.quote_name('ordering_key')} <> ''"
    return sql, params


_CHAIN_KEY = ("kind", "tenant_id", "provider_id", "ordering_key")


def _chain_next_due(delivery) -> int | None:
    """After `delivery` released its chain: the next pending row of the chain, if never attempted (its own
    task found the chain blocked and waits for a recheck), is due now; its id, to be sent after commit.
    One statement; a row already attempted keeps its retry time."""
    sql, params = chain_next_sql(delivery)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


# --- sweeper, retry, cancel --------------------------------------------------------------

def deliveries_sweep(*, limit: int = 500) -> int:
    """Re-dispatch rows that are due but have no live task: written while the broker was down, waiting
    longer than a countdown may, or stuck in progress after a worker died. A synchronous row is taken only
    once the process that answers its API request is surely gone. Returns how many were dispatched."""
    Delivery, _ = _models()
    now = timezone.now()
    grace = now - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE)
    sync_grace = grace - timedelta(seconds=settings.NOTIFICATIONS_SYNC_DEADLINE)
    due = (Q(status=Delivery.Status.PENDING, synchronous=False, next_attempt_at__lte=grace)
           | Q(status=Delivery.Status.PENDING, synchronous=True, next_attempt_at__lte=sync_grace)
           | Q(status=Delivery.Status.IN_PROGRESS, lease_expires_at__lte=now))
    # Once per grace period per row, so a long broker backlog is not flooded with duplicates.
    not_recently_swept = Q(swept_at__isnull=True) | Q(swept_at__lte=grace)
    rows = rows_inlined(Delivery.objects.filter(due & not_recently_swept).order_by("next_attempt_at", "pk")
                        .values_list("pk", "kind")[:limit])
    ids = [pk for pk, _ in rows]
    # Mark first: an UPDATE after dispatching could hold the row lock just when the task's
    # SKIP LOCKED claim runs, and the task would give up ("locked") until the next sweep.
    Delivery.objects.filter(pk__in=ids).update(swept_at=now)
    failed = [pk for pk, kind in rows if not _dispatch(pk, kind=kind)]
    if failed:
        Delivery.objects.filter(pk__in=failed).update(swept_at=None)
    return len(ids) - len(failed)


RETRYABLE_STATUSES = ("dead", "refused", "unknown")


@transaction.atomic
def delivery_retry(*, delivery_id: int, synchronous: bool | None = None):
    """Give a dead, refused or unknown row a fresh cycle of attempts (the admin takes the risk of a
    duplicate for `unknown`: that is why it is never automatic). `synchronous`: who drives it now."""
    Delivery, _ = _models()
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status not in RETRYABLE_STATUSES:
        raise ConflictError("Повторить можно только недоставленную, отклонённую или неизвестную доставку",
                            code="delivery_not_dead")
    delivery.status = Delivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    if synchronous is not None:
        delivery.synchronous = synchronous
    delivery.save()
    if not delivery.synchronous:
        dispatch_on_commit(delivery.pk, kind=delivery.kind)
    return delivery


@transaction.atomic
def delivery_cancel(*, delivery_id: int, reason: str = "отменена модератором"):
    """Stop a pending, in-progress or dead row (releases its chain)."""
    Delivery, _ = _models()
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status in (Delivery.Status.DELIVERED, Delivery.Status.REFUSED, Delivery.Status.CANCELLED,
                           Delivery.Status.UNKNOWN):
        raise ConflictError("Доставка уже завершена", code="delivery_final")
    _finish(delivery, Delivery.Status.CANCELLED, reason)
    return delivery
