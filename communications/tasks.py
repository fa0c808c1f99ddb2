"""Celery tasks of the communications module: take ids, call services."""

from celery import shared_task

from communications.services import files
from communications.services import operator as _operator  # noqa: F401  registers the on_delivered handlers
from communications.services import sync as _sync  # noqa: F401  registers the `channels.activate` handler
from communications.services.retention import deliveries_prune
from delivery import engine, feed


# Longer than connect + read timeout, so a hung call is cut off and the lease logic takes over.
@shared_task(name="communications.delivery_send", ignore_result=True, soft_time_limit=120, time_limit=150)
def delivery_send_task(delivery_id: int, kind: str = "") -> str:
    """One attempt of one engine row by id, whatever its kind (provider call, webhook, notification,
    initial-sync page, test-stand run: the kind's queue and time limits come with the message).
    Idempotent: final or locked rows are skipped. The rows of the chain it releases are sent by this task
    too, up to a limit (`delivery_drain`), instead of a message each."""
    return engine.delivery_drain(delivery_id=delivery_id, kind=kind)


@shared_task(name="communications.delivery_feed_drain", ignore_result=True)
def delivery_feed_drain_task(queue: str, token: str) -> int:
    """A drainer of the feed of `queue` (`delivery/feed.py`): attempts the rows pushed there, one after another,
    without a message each. Its time limits come with the message (its lifetime plus one attempt's)."""
    return feed.drain(queue, token)


@shared_task(name="communications.deliveries_sweep", ignore_result=True)
def deliveries_sweep_task() -> int:
    """Beat: re-dispatch engine rows of every kind that are due but have no live task (a lost
    dispatch, a worker that died mid-attempt: an initial-sync page, a test-stand run, a call)."""
    return engine.deliveries_sweep()


@shared_task(name="communications.deliveries_prune", ignore_result=True)
def deliveries_prune_task() -> int:
    """Beat: delete final deliveries older than DELIVERY_RETENTION_DAYS, in batches (issue 19)."""
    return deliveries_prune()


@shared_task(name="communications.replies_relink", ignore_result=True)
def replies_relink_task() -> int:
    """Beat: link the recent replies whose quote was stored at the same moment (services/conversations.py)."""
    from communications.services.conversations import replies_relink_recent

    return replies_relink_recent()


# --- operator Idempotency-Keys (docs/reliability-and-security.md) ---
@shared_task(name="communications.operator_requests_prune", ignore_result=True)
def operator_requests_prune_task() -> int:
    """Beat: forget operator Idempotency-Keys older than OPERATOR_IDEMPOTENCY_KEY_HOURS."""
    return _operator.operator_requests_prune()


@shared_task(name="communications.uploads_expired_delete", ignore_result=True)
def uploads_expired_delete_task() -> int:
    return files.uploads_expired_delete()
