"""Fetching attachments given by `url`, in the background, on the delivery engine (kind `attachment_fetch`).

Each pending attachment has an engine row (`Attachment.fetch`); the engine owns the attempts, lease, retries
(ATTACHMENTS_FETCH_RETRY_SCHEDULE), the sweeper and admin retry/cancel. This kind downloads through the
SSRF-guarded client with the type's size cap enforced while streaming, and classifies the result by the
engine's outcomes: stored → delivered; refused by the SSRF guard or a redirect → broken; a 4xx, too large
or a content mismatch → permanent; network, 5xx, 408/425/429 → transient (retried; a GET may be repeated).
A row that ends any other way than delivered marks the attachment `failed` with the reason.
"""

import logging
import tempfile

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from communications import clients
from communications.models import Attachment, Delivery
from communications.services import files
from delivery import engine, outcomes
from delivery.kinds import Attempt, Kind, register

logger = logging.getLogger(__name__)

KIND = "attachment_fetch"
# engine words -> what the attachment's fetch did, for callers and tests
_WORDS = {"delivered": "stored", "refused": "failed", "dead": "failed", "retry": "retry", "cancelled": "failed"}


def fetches_queue(attachments) -> None:
    """An engine row per pending attachment, in the caller's transaction (sent after commit)."""
    for attachment in attachments:
        attachment.fetch = engine.delivery_create(
            kind=KIND, tenant_id=attachment.tenant_id, provider_id=attachment.provider_id, endpoint="fetch",
            url=attachment.source_url[:2048], payload={"attachment": attachment.pk})
        Attachment.objects.filter(pk=attachment.pk).update(fetch=attachment.fetch)


def attachment_fetch(*, attachment_id: int) -> str:
    """One engine attempt of the attachment's fetch. Returns stored / failed / retry / skipped."""
    delivery_id = Attachment.objects.filter(pk=attachment_id).values_list("fetch_id", flat=True).first()
    if delivery_id is None:
        return "skipped"
    return _WORDS.get(engine.delivery_send(delivery_id=delivery_id), "skipped")


@transaction.atomic
def attachment_fetch_retry(*, delivery_id: int) -> None:
    """Admin: fetch a failed attachment again (a fresh cycle of the engine's attempts)."""
    delivery = engine.delivery_retry(delivery_id=delivery_id)
    Attachment.objects.filter(pk=delivery.payload["attachment"], status=Attachment.Status.FAILED).update(
        status=Attachment.Status.PENDING, failure_reason="", updated_at=timezone.now())


@register
class _AttachmentFetchKind(Kind):
    name = KIND

    def retry_schedule(self) -> list[float]:
        return list(settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE)

    def lease_seconds(self, delivery) -> float:
        return settings.PROVIDER_CONNECT_TIMEOUT + settings.ATTACHMENTS_FETCH_TIMEOUT + settings.DELIVERY_LEASE_MARGIN

    def gate(self, delivery) -> str | None:
        if not Attachment.objects.filter(pk=delivery.payload["attachment"], status=Attachment.Status.PENDING).exists():
            engine.finish(delivery, Delivery.Status.CANCELLED, "вложение уже не ждёт загрузки")
            return "cancelled"
        return None

    def send(self, delivery) -> Attempt:
        row = Attachment.objects.get(pk=delivery.payload["attachment"])
        limit = files.type_limit(row.type)
        timeout = (settings.PROVIDER_CONNECT_TIMEOUT, settings.ATTACHMENTS_FETCH_TIMEOUT)
        with tempfile.TemporaryFile() as sink:
            try:
                response = clients.get_to_file(url=row.source_url, sink=sink, max_bytes=limit, timeout=timeout)
            except clients.UnsafeTargetError as exc:
                return Attempt(outcomes.BROKEN, error=f"URL отклонён: {exc}")
            except clients.BodyTooLarge:
                return Attempt(outcomes.PERMANENT, error=f"Файл больше {limit} байт.")
            except clients.TransportError as exc:
                return Attempt(outcomes.TRANSIENT, error=str(exc))
            outcome = outcomes.http_outcome(response.status_code)
            if outcome != outcomes.SUCCESS:
                redirect = " (перенаправления не выполняются)" if outcome == outcomes.BROKEN else ""
                return Attempt(outcome, error=f"HTTP {response.status_code}{redirect}", status_code=response.status_code)
            try:
                stored = files.store(tenant_id=row.tenant_id, fileobj=sink, kind=row.type,
                                     declared_mime=row.mime_type)
            except (files.ContentRefused, files.TooLarge) as exc:
                return Attempt(outcomes.PERMANENT, error=exc.message, status_code=response.status_code)
        return Attempt(outcomes.SUCCESS, status_code=response.status_code, response=stored)

    def on_success(self, delivery, attempt: Attempt) -> None:
        stored = attempt.response
        updated = Attachment.objects.filter(pk=delivery.payload["attachment"], status=Attachment.Status.PENDING).update(
            status=Attachment.Status.STORED, file=stored.name, mime_type=stored.mime_type, size=stored.size,
            checksum=stored.checksum, failure_reason="", updated_at=timezone.now())
        if not updated:  # deleted meanwhile: the file belongs to nobody
            files.delete([stored.name])

    def on_final(self, delivery) -> None:
        if delivery.status != Delivery.Status.DELIVERED:
            reason = delivery.last_error.removesuffix(" (попытки исчерпаны)")
            Attachment.objects.filter(pk=delivery.payload["attachment"], status=Attachment.Status.PENDING).update(
                status=Attachment.Status.FAILED, failure_reason=reason[:500], updated_at=timezone.now())
