"""What a kind of outbound call tells the engine: how to make one attempt and what its answer means.

The engine (`delivery/engine.py`) owns the row and its life; a kind only builds the request, makes the
call and classifies the answer (`Attempt`), plus optional hooks that run in the engine's transactions.
Kinds register themselves in the module named in `KIND_MODULES`, imported on first use.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Value

from delivery import policy

# kind name -> the module that registers it (imported lazily: a worker needs no app-specific startup)
KIND_MODULES = {
    "provider": "communications.services.deliveries",
    "webhook": "communications.services.deliveries",
    "callback": "communications.services.deliveries",
    "notification": "notifications.services.sending",
    "attachment_fetch": "communications.services.attachment_fetch",
    "sync_page": "communications.services.sync",
    "sync_import": "communications.services.sync",
    "teststand_run": "communications.services.teststand",
}
_REGISTRY: dict[str, "Kind"] = {}


@dataclass
class Attempt:
    """The result of one call, as the kind classified it (`delivery.outcomes`, or DEFERRED)."""

    outcome: str
    error: str = ""
    status_code: int | None = None
    latency_ms: int | None = None
    retry_after: float | None = None  # seconds the receiver (or a rate limit) asks us to wait
    excerpt: str = ""
    response_json: object = None  # stored on success
    external_id: str = ""  # the receiver's id of what was sent (a message id), stored on success
    response: object = None  # kind-specific data for its hooks


@dataclass
class AlsoSql:
    """A data-modifying statement the one-statement record of a success runs with it (`Kind.success_at_once`).
    `{ours}` in `sql` stands for "this attempt still holds the row": the statement must write only under it.
    `after(rows)`: called once the record is stored, with the number of rows `sql` returned (an exception: logged
    and appended to the row's last_error, as a failed hook's). `name`: its CTE's name, for a later statement to read
    (default `also<n>`; not `stored`, `logged`, `following` or a lock's)."""

    sql: str
    params: list
    after: Callable[[int], None] | None = None
    name: str = ""


@dataclass
class LockSql:
    """`Kind.lock` as CTEs of the one-statement record (`Kind.lock_sql`): `sql` is `name AS (…), …`, each lock
    taken after the one before it; the delivery row's UPDATE waits for `last` (an uncorrelated subquery over it: a
    one-time filter, run before the row is read and locked), so the lock order holds within the one statement."""

    sql: str
    params: list
    last: str


class Kind:
    name = ""

    def drops_duplicates(self, delivery) -> bool:
        """Whether the receiver drops a repeat, so an ambiguous outcome may be sent again."""
        return True

    def lease_seconds(self, delivery) -> float:
        """Seconds a claim holds the row. `delivery` is None when the row is claimed by one statement
        (`claim_ready`): a kind whose lease depends on the row must not have `claim_ready`."""
        return settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT + settings.DELIVERY_LEASE_MARGIN

    def retry_schedule(self) -> list[float]:
        """Seconds to wait after failed attempts 1, 2, … (the last one repeats). Default: the HTTP calls'."""
        return list(settings.DELIVERY_RETRY_SCHEDULE)

    def max_attempts(self) -> int:
        """Attempts per cycle, a restart after a lost lease included (default: one more than the waits)."""
        return len(self.retry_schedule()) + 1

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): the one policy, this schedule."""
        return policy.retry_delay(self.retry_schedule(), attempt, retry_after)

    def queue(self) -> str:
        """The Celery queue its attempts go to."""
        return settings.DELIVERY_QUEUE

    def time_limits(self) -> tuple[float, float] | None:
        """(soft, hard) time limit of one attempt's task, below the lease; None: the task's own."""
        return None

    def claim_annotations(self) -> dict:
        """Expressions the claim's query adds to the row (facts `gate` reads without a query of its own)."""
        return {}

    def claim_ready(self):
        """A boolean expression over the claim's row and annotations that holds exactly when `gate` lets the
        row through; with it, a due row is claimed by one `UPDATE … RETURNING` (`engine._claim_at_once`).
        Default: always, for a kind without a gate; None (the general claim only) for one with a gate."""
        return Value(True) if type(self).gate is Kind.gate else None

    def claim_also(self) -> str | None:
        """An UPDATE of the kind's own rows that the claim runs with the row it takes, before the attempt: inside the
        one-statement claim (`claim_ready`), else in the claim's transaction. It reads the claimed row's key as
        `SELECT claim_pk FROM taken` (e.g. the attempt counted on the kind's history row, with no statement of its
        own). A kind with one also undoes it in `claim_undo`."""
        return None

    def claim_undo(self, delivery) -> None:
        """Undo what `claim_also` wrote for `delivery`: the one-statement claim was given back because `prepare`
        failed, nothing was sent (the general claim's transaction rolls both back instead). Runs in the give-back's
        transaction."""

    def gate(self, delivery) -> str | None:
        """In the claim's transaction, before the attempt: finish the row and return a word to stop it."""
        return None

    def prepare(self, delivery) -> None:
        """Just before the attempt, in the claim's transaction (after the one-statement claim: on its own, the
        row already leased) — e.g. fill in ids learned since queuing."""

    def send(self, delivery) -> Attempt:
        raise NotImplementedError

    def lock(self, delivery) -> None:
        """Before the row is locked to record an answer: take the rows that come first in the lock order. Default:
        `lock_sql`'s locks, in a statement of their own (PostgreSQL; SQLite serialises writers anyway)."""
        lock = self.lock_sql(delivery)
        if lock is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"WITH {lock.sql} SELECT count(*) FROM {lock.last}", lock.params)  # noqa: S608 (the kind's own SQL)

    def lock_sql(self, delivery) -> LockSql | None:
        """The rows that come first in the lock order, as CTEs: taken by `lock`, and inside the one-statement record
        of a success. None: nothing to lock (or a kind that overrides `lock` and takes the general record)."""
        return None

    def hook_needed(self, name: str, delivery, *args) -> bool:
        """Whether the hook `name` has anything to do for this answer (False: not run, no savepoint paid)."""
        return True

    def on_success(self, delivery, attempt: Attempt) -> None:
        """In the recording transaction, before the row is marked delivered."""

    def success_at_once(self, delivery, attempt: Attempt) -> list[AlsoSql] | None:
        """A success's `on_success` and `on_final` as SQL, for the one-statement record
        (`engine._record_success_at_once`); None: the general record runs them in Python. Default: nothing to do
        for a kind without those hooks, None for one with them."""
        cls = type(self)
        return [] if cls.on_success is Kind.on_success and cls.on_final is Kind.on_final else None

    def on_refused(self, delivery, attempt: Attempt) -> None:
        """In the recording transaction of a permanent refusal."""

    def quiet_refusal(self, delivery) -> bool:
        """A refusal that is expected (logged at INFO, not WARNING)."""
        return False

    def on_final(self, delivery) -> None:
        """In the transaction that gives the row a final status (any path: answer, sweeper, admin, cancel)."""


_UNNAMED = Kind()


def register(cls: type[Kind]) -> type[Kind]:
    """Class decorator: the engine uses one instance of each kind."""
    instance = cls()
    _REGISTRY[instance.name] = instance
    return cls


def kind_get(name: str) -> Kind:
    """The registered kind; for "" (a task that did not name its row's kind) the defaults of `Kind`."""
    if not name:
        return _UNNAMED
    if name not in _REGISTRY and name in KIND_MODULES:
        importlib.import_module(KIND_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupError(f"unknown delivery kind {name!r}") from None
