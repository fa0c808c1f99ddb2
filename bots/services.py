"""Writes of the bots app besides the dialogue: update de-duplication."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import PendingBinding, ProcessedUpdate

UPDATE_RETENTION = timedelta(days=7)  # Telegram and VK stop redelivering long before this


def processed_update_claim(*, service: str, update_id: str | int | None) -> bool:
    """Record a Telegram `update_id` / VK `event_id`; False when it was handled before.

    Call it inside the transaction that handles the update: if handling fails, the claim
    rolls back with it and a redelivery is processed. A concurrent duplicate waits on the
    unique index and then gets False. Updates without an id are always processed.
    """
    if update_id in (None, ""):
        return True
    try:
        with transaction.atomic():
            ProcessedUpdate.objects.create(service=service, update_id=str(update_id))
    except IntegrityError:
        return False
    return True


def bots_state_prune(*, now=None) -> int:
    """Delete old dedup rows and old questions (their tokens expired long ago); returns the count."""
    cutoff = (now or timezone.now()) - UPDATE_RETENTION
    updates, _ = ProcessedUpdate.objects.filter(created_at__lt=cutoff).delete()
    questions, _ = PendingBinding.objects.filter(updated_at__lt=cutoff).delete()
    return updates + questions
