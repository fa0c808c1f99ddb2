"""Attachment files: content checks, storage under random names, signed expiring download URLs.

Storage is Django's default storage (settings.STORAGES["default"]): the local filesystem under
MEDIA_ROOT, or S3 (django-storages). Nothing is public: the filesystem is read only through
`/api/v1/files/<token>` (a signed token with its expiry), S3 through presigned URLs.
"""

import hashlib
import tempfile
import time
import uuid
from dataclasses import dataclass
from functools import partial

import filetype
from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.urls import reverse
from django.utils import timezone
from PIL import ExifTags, Image, UnidentifiedImageError

from communications.models import Attachment, Upload
from config.errors import ApplicationError

SIGNING_SALT = "communications.attachments.download"
CHUNK = 64 * 1024
# Types whose real content must be of their family; `file` takes anything.
FAMILY = {"image": ("image/",), "sticker": ("image/", "video/"), "video": ("video/",),
          "audio": ("audio/", "video/"), "voice": ("audio/", "video/")}  # ogg/webm voice sniffs as video
GPS_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}


class ContentRefused(ApplicationError):
    status_code = 415
    default_code = "unsupported_media_type"


class TooLarge(ApplicationError):
    status_code = 413
    default_code = "payload_too_large"


@dataclass
class StoredFile:
    name: str  # the storage name (random)
    mime_type: str
    size: int
    checksum: str  # SHA-256, hex


def type_limit(kind: str | None) -> int:
    total = settings.ATTACHMENTS_MAX_UPLOAD_BYTES
    return min(total, settings.ATTACHMENTS_MAX_BYTES_BY_TYPE.get(kind or "", total))


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"Файл больше {limit} байт.", field="file")


def mime_matches(kind: str, mime: str) -> bool:
    families = FAMILY.get(kind)
    return not families or mime.startswith(families)


def _sha256_and_size(fileobj) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    fileobj.seek(0)
    while chunk := fileobj.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


def _without_gps(fileobj):
    """The image without its EXIF GPS block (re-encoded only when there was one), or the file as is."""
    try:
        image = Image.open(fileobj)
        image_format = image.format
        exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError):
        fileobj.seek(0)
        return fileobj
    if image_format not in GPS_FORMATS or ExifTags.IFD.GPSInfo not in exif:
        fileobj.seek(0)
        return fileobj
    del exif[ExifTags.IFD.GPSInfo]
    out = tempfile.SpooledTemporaryFile(max_size=CHUNK * 16)
    image.save(out, image_format, exif=exif, **({"quality": 95} if image_format == "JPEG" else {}))
    out.seek(0)
    return out


def store(*, tenant_id: uuid.UUID, fileobj, kind: str | None, declared_mime: str = "") -> StoredFile:
    """Check and store one file. `kind` is the attachment type (None: not known yet, checked on use).

    Refuses (415, field `file`) content whose sniffed type does not fit `kind` or the declared MIME type,
    and (413) a file over the type's cap. Strips EXIF GPS from images. The name is random.
    """
    _, size = _sha256_and_size(fileobj)
    limit = type_limit(kind)
    if size > limit:
        raise too_large(limit)
    sniffed = filetype.guess(fileobj)
    fileobj.seek(0)
    mime = sniffed.mime if sniffed else (declared_mime or "application/octet-stream")
    if kind and not mime_matches(kind, mime):
        raise ContentRefused(f"Содержимое файла ({mime}) не соответствует типу {kind}.", field="file")
    if sniffed and declared_mime and declared_mime.split("/")[0] != sniffed.mime.split("/")[0]:
        raise ContentRefused(f"Содержимое файла ({sniffed.mime}) не соответствует mimeType {declared_mime}.",
                             field="mimeType")
    content = _without_gps(fileobj) if mime.startswith("image/") else fileobj
    checksum, size = _sha256_and_size(content)
    extension = f".{sniffed.extension}" if sniffed else ""
    name = default_storage.save(f"attachments/{tenant_id}/{uuid.uuid4().hex}{extension}", File(content))
    return StoredFile(name=name, mime_type=mime, size=size, checksum=checksum)


def delete(names) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


# --- retention: a file lives as long as its row -----------------------------------------------------

def _file_row_deleted(sender, instance, **kwargs) -> None:
    """Attachments (with their message, chat or tenant data) and uploads take their file with them,
    once the deleting transaction commits (a rolled-back delete keeps the file)."""
    name = instance.file.name if instance.file else ""
    if name and not (sender is Upload and Attachment.objects.filter(file=name).exists()):
        transaction.on_commit(partial(delete, [name]), robust=True)


def uploads_expired_delete() -> int:
    """Beat: drop uploads nobody used in time (their files go with them)."""
    return Upload.objects.filter(expires_at__lte=timezone.now()).delete()[0]


post_delete.connect(_file_row_deleted, sender=Attachment, dispatch_uid="attachment-file-delete")
post_delete.connect(_file_row_deleted, sender=Upload, dispatch_uid="upload-file-delete")


# --- signed URLs ---------------------------------------------------------------------------------

def signed_url(attachment, ttl: int | None = None) -> str | None:
    """A URL that reads the attachment's file until it expires (None when there is no file yet)."""
    if not attachment.file:
        return None
    ttl = ttl or settings.ATTACHMENTS_URL_TTL_SECONDS
    if getattr(default_storage, "querystring_auth", False):  # S3: presigned by the store itself
        return default_storage.url(attachment.file.name, expire=ttl)
    token = signing.dumps({"a": attachment.pk, "t": str(attachment.tenant_id), "p": attachment.provider_id,
                           "e": int(time.time()) + ttl}, salt=SIGNING_SALT)
    base = settings.COMMUNICATIONS_PUBLIC_API_URL.rstrip("/").removesuffix("/api/v1")
    return base + reverse("public-file", kwargs={"token": token})


def token_read(token: str) -> tuple[dict | None, bool]:
    """(claims, expired) of a download token; (None, False) when it is not ours."""
    try:
        claims = signing.loads(token, salt=SIGNING_SALT)
    except signing.BadSignature:
        return None, False
    if not isinstance(claims, dict) or not {"a", "t", "p", "e"} <= set(claims):
        return None, False
    return claims, claims["e"] < time.time()
