"""Fetching attachments given by `url` in the background: a Celery task per attachment plus a sweeper.

The attachment row is the job (status `pending`, `fetch_attempts`, `fetch_next_at`). The download goes
through the SSRF-guarded client with the type's size cap enforced while streaming. Outcomes (delivery/
outcomes.py): success → `stored`; refused by the SSRF guard, a redirect, a 4xx, too large or a content
mismatch → `failed` with the reason; a transient failure (network, 5xx, 408/425/429) is retried on
ATTACHMENTS_FETCH_RETRY_SCHEDULE and fails after its last wait. `fetch_next_at` doubles as the lease:
a worker killed mid-fetch leaves it due, and the sweeper sends it again.
"""

import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from communications import clients
from communications.models import Attachment
from communications.services import files
from delivery import outcomes
from delivery.dispatch import dispatch_on_commit

logger = logging.getLogger(__name__)


def _task():
    from communications.tasks import attachment_fetch_task  # tasks import services

    return attachment_fetch_task


def fetches_dispatch(ids: list[int]) -> None:
    """After commit, publish a fetch per attachment; if the broker is down the sweeper takes them now."""
    for attachment_id in ids:
        dispatch_on_commit(_task(), args=[attachment_id], label=f"attachment {attachment_id} fetch",
                           on_failure=lambda pk=attachment_id: Attachment.objects.filter(
                               pk=pk, status=Attachment.Status.PENDING).update(fetch_next_at=timezone.now()))


def _take(attachment_id: int) -> Attachment | None:
    now = timezone.now()
    with transaction.atomic():
        row = (Attachment.objects.select_for_update(skip_locked=True)
               .filter(pk=attachment_id, status=Attachment.Status.PENDING).first())
        if row is None or (row.fetch_attempts and row.fetch_next_at and row.fetch_next_at > now):
            return None  # done, taken by another worker (lease), or waiting for its retry
        lease = settings.PROVIDER_CONNECT_TIMEOUT + settings.ATTACHMENTS_FETCH_TIMEOUT + 60
        row.fetch_attempts += 1
        row.fetch_next_at = now + timedelta(seconds=lease)
        row.save(update_fields=["fetch_attempts", "fetch_next_at", "updated_at"])
    return row


def _finish(row: Attachment, **fields) -> None:
    """Write the result unless the row moved on (deleted, or finished by someone else)."""
    updated = Attachment.objects.filter(pk=row.pk, status=Attachment.Status.PENDING,
                                        fetch_attempts=row.fetch_attempts).update(updated_at=timezone.now(), **fields)
    if not updated and fields.get("file"):
        files.delete([fields["file"]])


def _retry_or_fail(row: Attachment, reason: str) -> str:
    waits = settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE
    if row.fetch_attempts > len(waits):
        _finish(row, status=Attachment.Status.FAILED, failure_reason=reason[:500], fetch_next_at=None)
        return "failed"
    delay = waits[row.fetch_attempts - 1]
    _finish(row, fetch_next_at=timezone.now() + timedelta(seconds=delay), failure_reason=reason[:500])
    return "retry"


def attachment_fetch(*, attachment_id: int) -> str:
    """One fetch attempt. Returns stored / failed / retry / skipped."""
    row = _take(attachment_id)
    if row is None:
        return "skipped"
    limit = files.type_limit(row.type)
    timeout = (settings.PROVIDER_CONNECT_TIMEOUT, settings.ATTACHMENTS_FETCH_TIMEOUT)
    with tempfile.TemporaryFile() as sink:
        try:
            response = clients.get_to_file(url=row.source_url, sink=sink, max_bytes=limit, timeout=timeout)
        except clients.UnsafeTargetError as exc:
            return _fail(row, f"URL отклонён: {exc}")
        except clients.BodyTooLarge:
            return _fail(row, f"Файл больше {limit} байт.")
        except clients.TransportError as exc:
            return _retry_or_fail(row, str(exc))
        outcome = outcomes.http_outcome(response.status_code)
        if outcome == outcomes.TRANSIENT:
            return _retry_or_fail(row, f"HTTP {response.status_code}")
        if outcome != outcomes.SUCCESS:
            return _fail(row, f"HTTP {response.status_code}" + (" (перенаправления не выполняются)"
                                                                  if outcome == outcomes.BROKEN else ""))
        try:
            stored = files.store(tenant_id=row.tenant_id, fileobj=sink, kind=row.type, declared_mime=row.mime_type)
        except (files.ContentRefused, files.TooLarge) as exc:
            return _fail(row, exc.message)
    _finish(row, status=Attachment.Status.STORED, file=stored.name, mime_type=stored.mime_type, size=stored.size,
            checksum=stored.checksum, failure_reason="", fetch_next_at=None)
    return "stored"


def _fail(row: Attachment, reason: str) -> str:
    _finish(row, status=Attachment.Status.FAILED, failure_reason=reason[:500], fetch_next_at=None)
    return "failed"


def attachment_fetches_sweep(*, limit: int = 500) -> int:
    """Beat: re-dispatch pending fetches that are due (retry time reached, lost task, or expired lease)."""
    ids = list(Attachment.objects.filter(status=Attachment.Status.PENDING, fetch_next_at__lte=timezone.now())
               .order_by("fetch_next_at").values_list("pk", flat=True)[:limit])
    with transaction.atomic():
        fetches_dispatch(ids)
    return len(ids)
