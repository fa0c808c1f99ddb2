"""Celery tasks of the communications module: take ids, call services."""

from celery import shared_task

from communications.services import deliveries, sync
from communications.services import operator as _operator  # noqa: F401  registers the on_delivered handlers
from communications.services.retention import deliveries_prune


# Longer than connect + read timeout, so a hung call is cut off and the lease logic takes over.
@shared_task(name="communications.delivery_send", ignore_result=True, soft_time_limit=120, time_limit=150)
def delivery_send_task(delivery_id: int) -> str:
    """Deliver one outbox row by id. Idempotent: final or locked rows are skipped."""
    return deliveries.delivery_send(delivery_id=delivery_id)


@shared_task(name="communications.deliveries_sweep", ignore_result=True)
def deliveries_sweep_task() -> int:
    """Beat: re-dispatch deliveries that are due but have no live task."""
    return deliveries.deliveries_sweep()


@shared_task(name="communications.deliveries_prune", ignore_result=True)
def deliveries_prune_task() -> int:
    """Beat: delete final deliveries older than DELIVERY_RETENTION_DAYS, in batches (issue 19)."""
    return deliveries_prune()


# --- test stand (docs/test-stand.md) ---
def _teststand_limits() -> tuple[float, float]:
    from django.conf import settings

    budget = (settings.TESTSTAND_RUN_BUDGET + settings.PROVIDER_CONNECT_TIMEOUT
              + settings.PROVIDER_READ_TIMEOUT)
    return budget + 15, budget + 30


# A stuck provider holds a worker at most the run budget plus one call's timeouts; the soft
# limit (budget + timeouts + 15 s) then marks the run interrupted, the hard limit kills it.
_TESTSTAND_SOFT, _TESTSTAND_HARD = _teststand_limits()


@shared_task(name="communications.conformance_run_execute", ignore_result=True,
             soft_time_limit=_TESTSTAND_SOFT, time_limit=_TESTSTAND_HARD)
def conformance_run_execute_task(run_id: int) -> str:
    """Execute one queued test-stand run by id. Idempotent: a run that is not queued is skipped."""
    from communications.teststand import services as teststand

    return teststand.conformance_run_execute(run_id=run_id)


@shared_task(name="communications.conformance_runs_sweep", ignore_result=True)
def conformance_runs_sweep_task() -> int:
    """Beat: re-dispatch test-stand runs whose dispatch was lost or whose worker died."""
    from communications.teststand import services as teststand

    return teststand.conformance_runs_sweep()


# --- initial sync (docs/provider-calls.md) ---
@shared_task(name="communications.initial_sync_page", ignore_result=True, soft_time_limit=120, time_limit=150)
def initial_sync_page_task(sync_id: int, run: int | None = None, page: int | None = None) -> str:
    """Fetch and import one page of the initial sync; queues the next page itself."""
    return sync.initial_sync_page(sync_id=sync_id, run=run, page=page)


@shared_task(name="communications.initial_syncs_sweep", ignore_result=True)
def initial_syncs_sweep_task() -> int:
    """Beat: restart initial syncs whose page task got lost."""
    return sync.initial_syncs_sweep()


# --- operator Idempotency-Keys (docs/reliability-and-security.md) ---
@shared_task(name="communications.operator_requests_prune", ignore_result=True)
def operator_requests_prune_task() -> int:
    """Beat: forget operator Idempotency-Keys older than OPERATOR_IDEMPOTENCY_KEY_HOURS."""
    return _operator.operator_requests_prune()
