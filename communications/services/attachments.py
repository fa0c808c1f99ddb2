"""Attachments of messages and replies (`replyTo`): building rows from validated public API items.

Items arrive snake_case from `PublicAttachmentSerializer`: type, url | upload_id, name, mime_type,
size, location {latitude, longitude, title}, contact {name, phone}. Media by `url` start `pending`
(fetched in the background); by `upload_id` they take over the upload's stored file (the upload is
used once); locations and contacts are `stored` at once.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from communications.models import Attachment, Message, Provider, Upload
from communications.services import attachment_fetch, files
from config.errors import ApplicationError

UPLOAD_UNKNOWN = "Загрузка не найдена, уже использована или срок её действия истёк."


def uploads_for(*, tenant_id: uuid.UUID, provider: Provider, items: list[dict]) -> dict[uuid.UUID, Upload]:
    """The live uploads referenced by `items` (messages' data), scoped to the tenant and provider."""
    ids = {a["upload_id"] for data in items for a in data.get("attachments") or () if a.get("upload_id")}
    if not ids:
        return {}
    rows = Upload.objects.filter(tenant_id=tenant_id, provider=provider, id__in=ids, expires_at__gt=timezone.now())
    return {upload.id: upload for upload in rows}


def missing_uploads(data: dict, uploads: dict[uuid.UUID, Upload]) -> dict | None:
    """Field errors (shaped like serializer errors) for uploads of `data` that are not available."""
    errors = {}
    for position, item in enumerate(data.get("attachments") or ()):
        if item.get("upload_id") and item["upload_id"] not in uploads:
            errors[str(position)] = {"uploadId": [UPLOAD_UNKNOWN]}  # keyed by index, as DRF's list errors
        elif item.get("upload_id") and not files.mime_matches(item["type"], uploads[item["upload_id"]].mime_type):
            errors[str(position)] = {"uploadId": [
                f"Загруженный файл ({uploads[item['upload_id']].mime_type}) не подходит для type={item['type']}."]}
    return {"attachments": errors} if errors else None


def refuse_missing_uploads(data: dict, uploads: dict[uuid.UUID, Upload]) -> None:
    errors = missing_uploads(data, uploads)
    if errors:
        raise ApplicationError("Некорректные данные запроса.", fields=errors)


def attachments_build(message: Message, items: list[dict], uploads: dict[uuid.UUID, Upload]) -> list[Attachment]:
    rows = []
    for position, item in enumerate(items):
        row = Attachment(tenant_id=message.tenant_id, provider_id=message.provider_id, message=message,
                         position=position, type=item["type"], name=item.get("name") or "",
                         mime_type=item.get("mime_type") or "", size=item.get("size"))
        if item.get("url"):
            row.source_url, row.status = item["url"], Attachment.Status.PENDING  # fetched on the engine
        elif item.get("upload_id"):
            upload = uploads[item["upload_id"]]
            row.file, row.checksum, row.size = upload.file.name, upload.checksum, upload.size
            row.mime_type = upload.mime_type
            row.name = row.name or upload.name
        if location := item.get("location"):
            row.latitude, row.longitude = location["latitude"], location["longitude"]
            row.location_title = location.get("title") or ""
        if contact := item.get("contact"):
            row.contact_name, row.contact_phone = contact["name"], contact.get("phone") or ""
        rows.append(row)
    return rows


def attachments_create(pairs: list[tuple[Message, list[dict]]], uploads: dict[uuid.UUID, Upload]) -> None:
    """Insert the attachments of new messages (one statement) and use up their uploads."""
    rows = [row for message, items in pairs for row in attachments_build(message, items, uploads)]
    if not rows:
        return
    # a concurrent insert of the same message created them already: (message, position) is unique
    Attachment.objects.bulk_create(rows, ignore_conflicts=True)
    used = {a["upload_id"] for _, items in pairs for a in items if a.get("upload_id")}
    if used:
        Upload.objects.filter(id__in=used).delete()  # the file now belongs to the attachment
    if any(row.status == Attachment.Status.PENDING for row in rows):
        attachment_fetch.fetches_queue(list(Attachment.objects.filter(
            message__in=[m for m, _ in pairs], status=Attachment.Status.PENDING, fetch__isnull=True)))


def _quoted():
    """The quoted message of the reply being updated (the outer row), if it is known."""
    return Message.objects.filter(tenant_id=OuterRef("tenant_id"), provider=OuterRef("provider"),
                                  external_id=OuterRef("reply_to_external_id")).order_by().values("pk")[:1]


def replies_resolve(*, tenant_id: uuid.UUID, provider: Provider, external_ids: list[str]) -> int:
    """Link replies among and to the given (new) messages to the quoted message, when it is known. Returns how many
    were linked; a reply whose quote is still unknown is not written."""
    if not external_ids:
        return 0
    return _linked(Message.objects.filter(tenant_id=tenant_id, provider=provider).filter(
        Q(external_id__in=external_ids) | Q(reply_to_external_id__in=external_ids)))


def replies_resolve_since(*, since) -> int:
    """Link the replies stored since `since` whose quoted message is known (the ORM form of
    `conversations.replies_relink_recent`, for SQLite)."""
    return _linked(Message.objects.filter(created_at__gte=since))


def _linked(messages) -> int:
    """Link the waiting replies among `messages` whose quoted message is known; returns how many."""
    waiting = messages.filter(reply_to__isnull=True).exclude(reply_to_external_id="").filter(Exists(_quoted()))
    return waiting.update(reply_to=Subquery(_quoted()))


# --- direct uploads --------------------------------------------------------------------------------

@transaction.atomic
def upload_create(*, tenant_id: uuid.UUID, provider: Provider, fileobj, name: str, kind: str | None,
                  declared_mime: str = "") -> Upload:
    """Check and store an uploaded file; the returned upload is usable by this tenant+provider for a while."""
    stored = files.store(tenant_id=tenant_id, fileobj=fileobj, kind=kind, declared_mime=declared_mime)
    try:  # a failed INSERT must not leave the file behind
        return Upload.objects.create(
            tenant_id=tenant_id, provider=provider, file=stored.name, name=name[:255], mime_type=stored.mime_type,
            size=stored.size, checksum=stored.checksum,
            expires_at=timezone.now() + timedelta(seconds=settings.ATTACHMENTS_UPLOAD_TTL_SECONDS))
    except Exception:
        files.delete([stored.name])
        raise


def attachment_for_token(claims: dict) -> Attachment | None:
    """The attachment a download token names, only inside the token's tenant and provider."""
    return (Attachment.objects.filter(pk=claims["a"], tenant_id=claims["t"], provider_id=claims["p"])
            .exclude(file="").first())


def attachments_refuse(rows: list[Attachment], reason: str) -> None:
    if rows:
        Attachment.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Attachment.Status.FAILED, failure_reason=reason, updated_at=timezone.now())


def attachments_for_provider(rows) -> list[dict]:
    """`sendMessage` items: files as signed URLs valid long enough for the delivery's retries."""
    from communications import provider_contract as contract

    ttl = settings.ATTACHMENTS_PROVIDER_URL_TTL_SECONDS
    return [contract.attachment_item(
        type=row.type, url=files.signed_url(row, ttl=ttl), name=row.name, mime_type=row.mime_type, size=row.size,
        checksum=row.checksum,
        location={"latitude": row.latitude, "longitude": row.longitude, "title": row.location_title}
        if row.type == Attachment.Type.LOCATION else None,
        contact={"name": row.contact_name, "phone": row.contact_phone} if row.type == Attachment.Type.CONTACT else None,
    ) for row in rows]
