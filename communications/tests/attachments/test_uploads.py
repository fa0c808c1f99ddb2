"""Direct uploads, content checks and signed downloads (issue 21, slice 2)."""

import hashlib
import io
import re
import uuid
from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone
from rest_framework.test import APIClient

from communications.models import Attachment, Upload
from communications.services import files
from communications.tests.factories import PDF, has_gps, jpeg_with_gps, message_payload, stored_files

pytestmark = pytest.mark.django_db


def upload(api, data: bytes, name="photo.jpg", **fields):
    return api.post("/api/v1/uploads", {"file": _named(data, name), **fields}, format="multipart")


def _named(data: bytes, name: str):
    f = io.BytesIO(data)
    f.name = name
    return f


def _download(url: str):
    return APIClient().get("/" + url.split("://", 1)[1].split("/", 1)[1])


def test_upload_then_reference_stores_the_file_without_gps_and_downloads_through_signed_url(api, media):
    original = jpeg_with_gps()
    assert has_gps(original)
    response = upload(api, original, type="image")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mimeType"] == "image/jpeg" and body["name"] == "photo.jpg"
    [path] = stored_files(media)
    assert "photo" not in path.name and path.suffix == ".jpg"  # random stored name
    assert not has_gps(path.read_bytes())
    assert body["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()

    message = api.post("/api/v1/messages", message_payload(text="", attachments=[
        {"type": "image", "uploadId": body["uploadId"]}]), format="json")
    assert message.status_code == 201, message.content
    [attachment] = message.json()["attachments"]
    assert attachment["status"] == "stored" and attachment["checksum"] == body["checksum"]
    assert Upload.objects.count() == 0  # used up
    download = _download(attachment["url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == body["checksum"] and not has_gps(content)
    again = api.post("/api/v1/messages", message_payload("m-2", text="", attachments=[
        {"type": "image", "uploadId": body["uploadId"]}]), format="json")
    assert again.status_code == 400 and "uploadId" in again.json()["error"]["fields"]["attachments"]["0"]


def test_streamed_upload_over_the_limit_is_413_and_nothing_is_stored(api, media, settings):
    settings.ATTACHMENTS_MAX_UPLOAD_BYTES = 100 * 1024
    # just over the limit: passes the Content-Length pre-check, stopped while streaming
    response = upload(api, b"\0" * (100 * 1024 + 10), name="big.bin")
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "payload_too_large"
    far_over = upload(api, b"\0" * (400 * 1024), name="big.bin")
    assert far_over.status_code == 413
    assert Upload.objects.count() == 0 and stored_files(media) == []
    assert upload(api, b"\0" * (100 * 1024), name="ok.bin").status_code == 201


def test_per_type_limit(api, media, settings):
    settings.ATTACHMENTS_MAX_BYTES_BY_TYPE = {"sticker": 1024}
    response = upload(api, jpeg_with_gps() + b"\0" * 2048, type="sticker")
    assert response.status_code == 413 and "file" in response.json()["error"]["fields"]
    assert stored_files(media) == []


def test_wrong_declared_type_is_refused_and_nothing_is_stored(api, media):
    response = upload(api, PDF, name="photo.jpg", type="image")
    assert response.status_code == 415, response.content
    assert response.json()["error"]["fields"] == {"file": [
        "Содержимое файла (application/pdf) не соответствует типу image."]}
    declared = upload(api, jpeg_with_gps(), name="doc.pdf", mimeType="application/pdf")
    assert declared.status_code == 415 and "mimeType" in declared.json()["error"]["fields"]
    assert Upload.objects.count() == 0 and stored_files(media) == []


def test_an_empty_type_is_a_400_naming_it_and_nothing_is_stored(api, media):
    response = upload(api, jpeg_with_gps(), type="")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"type"}
    assert Upload.objects.count() == 0 and stored_files(media) == []


def test_pdf_upload_cannot_be_referenced_as_an_image(api, media):
    body = upload(api, PDF, name="doc.pdf").json()
    response = api.post("/api/v1/messages", message_payload(attachments=[
        {"type": "image", "uploadId": body["uploadId"]}]), format="json")
    assert response.status_code == 400
    assert "uploadId" in response.json()["error"]["fields"]["attachments"]["0"]
    ok = api.post("/api/v1/messages", message_payload(attachments=[
        {"type": "file", "uploadId": body["uploadId"]}]), format="json")
    assert ok.status_code == 201 and ok.json()["attachments"][0]["mimeType"] == "application/pdf"


def test_upload_is_only_for_its_tenant_and_provider_and_expires(api, media, other_tenant, other_provider):
    body = upload(api, PDF, name="doc.pdf").json()
    reference = message_payload(attachments=[{"type": "file", "uploadId": body["uploadId"]}])
    for stranger in (other_tenant, other_provider):
        response = stranger.client.post("/api/v1/messages", reference, format="json")
        assert response.status_code == 400
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.post("/api/v1/messages", reference, format="json").status_code == 400


def test_upload_needs_the_token(media):
    assert APIClient().post("/api/v1/uploads", {"file": _named(PDF, "a.pdf")},
                            format="multipart").status_code == 401


def _stored_attachment(api) -> Attachment:
    body = upload(api, PDF, name="doc.pdf").json()
    api.post("/api/v1/messages", message_payload(attachments=[{"type": "file", "uploadId": body["uploadId"]}]),
             format="json")
    return Attachment.objects.get()


def test_signed_url_expires(api, media):
    attachment = _stored_attachment(api)
    assert _download(files.signed_url(attachment, ttl=60)).status_code == 200
    expired = _download(files.signed_url(attachment, ttl=-1))
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "link_expired"


def test_tampered_or_other_tenants_url_is_404(api, media, other_tenant):
    attachment = _stored_attachment(api)
    url = files.signed_url(attachment)
    assert _download(url[:-3] + "abc").status_code == 404
    forged = signing.dumps({"a": attachment.pk, "t": str(other_tenant.tenant_id), "p": attachment.provider_id,
                            "e": 2**40}, salt=files.SIGNING_SALT)
    assert APIClient().get(f"/api/v1/files/{forged}").status_code == 404
    assert APIClient().get(f"/api/v1/files/{uuid.uuid4()}").status_code == 404


def test_admin_shows_an_image_preview_through_a_signed_url(api, media, client, django_user_model):
    from communications.models import Message

    body = upload(api, jpeg_with_gps(), type="image").json()
    api.post("/api/v1/messages", message_payload(text="", attachments=[
        {"type": "image", "uploadId": body["uploadId"]}, {"type": "contact", "contact": {"name": "Иван"}}]),
        format="json")
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "pass-1234567890")
    client.force_login(admin)
    page = client.get(f"/admin/communications/message/{Message.objects.get().pk}/change/").content.decode()
    [src] = re.findall(r'<img src="([^"]*/api/v1/files/[^"]+)"', page)
    src = src.replace("&amp;", "&")
    assert "скачать" not in page  # the contact has no file; the image is a preview
    assert _download(src).status_code == 200
