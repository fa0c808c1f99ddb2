"""Retention of the delivery log (issue 19): final `Delivery` rows and their attempts older than
DELIVERY_RETENTION_DAYS are deleted in small batches, each its own short transaction (no long locks;
rows another transaction holds are skipped with SKIP LOCKED and taken next time).

Never deleted: pending / in-progress rows, a `dead` row whose chain still has a row waiting behind it
(the dead row is what holds that chain: deleting it would release it), and the audit tables the spec
requires (notification history, bindings, devices, push history). A notification history row keeps its
own status and attempts; only its link to the deleted engine row becomes empty (the FK is SET_NULL).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from communications.models import Delivery
from config.sql import rows_inlined
from delivery import engine

logger = logging.getLogger(__name__)


def _prunable(cutoff):
    """Final rows older than `cutoff`, oldest first through `delivery_final_age_idx`; a dead row of a
    chain is judged apart (`_released_dead`)."""
    return (Delivery.objects.filter(status__in=Delivery.FINAL_STATUSES, updated_at__lt=cutoff)
            .exclude(status=Delivery.Status.DEAD, ordering_key__gt=""))


def _released_dead(cutoff, limit: int) -> list[int]:
    """Old dead rows of a chain with no row waiting behind them (rare: dead letters of an abandoned chain).
    The engine's own chain identity, NULL tenant / provider included."""
    candidates = (Delivery.objects.filter(status=Delivery.Status.DEAD, updated_at__lt=cutoff, ordering_key__gt="")
                  .order_by("updated_at")[:limit])
    released = []
    for row in candidates:
        # The chain's writers' lock (until commit): no new row can join the chain between check and delete.
        engine.chain_lock(row.kind, row.tenant_id, row.provider_id, row.ordering_key)
        if not engine.chain(row).filter(pk__gt=row.pk).exclude(status__in=Delivery.FINAL_STATUSES).exists():
            released.append(row.pk)
    return released


def _links_drop(ids: list[int]) -> None:
    """What points at the rows being deleted, as each link's `on_delete` says (the raw DELETE does not): a history
    or summary row keeps itself and only its link is emptied (SET_NULL: a notification, an initial sync, a test-stand
    run, an attachment); what belongs to the row goes with it (CASCADE: its attempts, a kept sync page)."""
    for relation in Delivery._meta.get_fields(include_hidden=True):  # hidden: the links named "+"
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        rows = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": ids})
        if relation.on_delete is models.SET_NULL:
            rows.update(**{relation.field.name: None})
        elif relation.on_delete is models.CASCADE:
            rows._raw_delete(connection.alias)
        else:
            raise TypeError(f"{relation.related_model.__name__}.{relation.field.name}: no rule to prune a delivery")


def deliveries_prune(*, days: int | None = None, batch: int | None = None, max_batches: int | None = None,
                     now=None) -> int:
    """Delete final delivery rows (and their attempts) last changed more than `days` ago, `batch` rows per
    transaction, at most `max_batches` transactions (None: until none is left). Returns rows deleted."""
    days = settings.DELIVERY_RETENTION_DAYS if days is None else days
    batch = batch or settings.DELIVERY_RETENTION_BATCH
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = [pk for (pk,) in rows_inlined(_prunable(cutoff).order_by("updated_at")
                                                .select_for_update(skip_locked=True).values_list("pk")[:batch])]
            if len(ids) < batch:  # the plain rows are done: the dead letters of released chains
                dead = _released_dead(cutoff, batch - len(ids))
                ids += list(Delivery.objects.filter(pk__in=dead, status=Delivery.Status.DEAD)
                            .select_for_update(skip_locked=True).values_list("pk", flat=True))
            if ids:
                _links_drop(ids)
                Delivery.objects.filter(pk__in=ids)._raw_delete(connection.alias)
        batches += 1
        deleted += len(ids)
        if len(ids) < batch:
            break
    if deleted:
        logger.info("delivery retention: deleted %s final rows older than %s days in %s batches",
                    deleted, days, batches)
    return deleted
