"""Attachments given by URL are fetched in the background through the SSRF guard (issue 21, slice 3)."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from communications.models import Attachment, Delivery
from communications.services import attachment_fetch, files
from communications.tests.factories import PDF, has_gps, jpeg_with_gps, message_payload, stored_files
from delivery.engine import deliveries_sweep

pytestmark = pytest.mark.django_db


def _post(api, url, kind="image", message_id="m-1", **extra):
    response = api.post("/api/v1/messages", message_payload(message_id, text="", attachments=[
        {"type": kind, "url": url, "name": "photo.jpg", **extra}]), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["attachments"][0]["status"] == "pending"
    return Attachment.objects.get(message__external_id=message_id)


def _download(url: str):
    return APIClient().get("/" + url.split("://", 1)[1].split("/", 1)[1])


def test_fetched_file_is_stored_without_gps_and_readable_through_the_signed_url(api, media, file_server):
    file_server.routes["/p/1.jpg"] = (200, jpeg_with_gps(), {"Content-Type": "image/jpeg"})
    attachment = _post(api, file_server.url("/p/1.jpg"))
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.status == "stored" and attachment.mime_type == "image/jpeg"
    [path] = stored_files(media)
    assert not has_gps(path.read_bytes()) and "photo" not in path.name
    body = api.post("/api/v1/messages", message_payload("m-1", text="", attachments=[
        {"type": "image", "url": file_server.url("/p/1.jpg"), "name": "photo.jpg"}]), format="json").json()
    [out] = body["attachments"]
    assert out["status"] == "stored" and out["checksum"] == attachment.checksum
    content = b"".join(_download(out["url"]).streaming_content)
    assert hashlib.sha256(content).hexdigest() == attachment.checksum
    # a second run changes nothing
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "skipped"


def test_private_address_is_refused_by_the_ssrf_guard_and_marked_failed(api, media, file_server, settings):
    attachment = _post(api, "http://10.1.2.3/secret.jpg")
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "failed"
    attachment.refresh_from_db()
    assert attachment.status == "failed" and "SSRF" in attachment.failure_reason
    # loopback too, once it is not allowed (production): the server is never called
    settings.PROVIDER_ALLOW_LOOPBACK = False
    file_server.routes["/p/1.jpg"] = (200, jpeg_with_gps(), {})
    other = _post(api, file_server.url("/p/1.jpg"), message_id="m-2")
    assert attachment_fetch.attachment_fetch(attachment_id=other.pk) == "failed"
    assert file_server.hits == [] and stored_files(media) == []
    body = api.post("/api/v1/messages", message_payload("m-2", text="", attachments=[
        {"type": "image", "url": file_server.url("/p/1.jpg"), "name": "photo.jpg"}]), format="json").json()
    assert body["attachments"][0]["status"] == "failed" and body["attachments"][0]["error"]
    assert body["attachments"][0]["url"] is None


def test_size_cap_is_enforced_while_streaming(api, media, file_server, settings):
    settings.ATTACHMENTS_MAX_BYTES_BY_TYPE = {"file": 1000}
    # no Content-Length: only the streaming count can stop it
    file_server.routes["/big"] = (200, b"x" * 5000, {"X-No-Length": "1", "Connection": "close"})
    attachment = _post(api, file_server.url("/big"), kind="file")
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "failed"
    attachment.refresh_from_db()
    assert attachment.failure_reason == "Файл больше 1000 байт." and stored_files(media) == []


def test_content_not_matching_the_type_fails(api, media, file_server):
    file_server.routes["/doc"] = (200, PDF, {})
    attachment = _post(api, file_server.url("/doc"))
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "failed"
    attachment.refresh_from_db()
    assert "application/pdf" in attachment.failure_reason and stored_files(media) == []


def test_404_fails_and_503_is_retried_then_fails(api, media, file_server, settings,
                                                 django_capture_on_commit_callbacks):
    missing = _post(api, file_server.url("/missing"))
    assert attachment_fetch.attachment_fetch(attachment_id=missing.pk) == "failed"
    settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE = [30]
    file_server.routes["/busy"] = (503, b"", {})
    busy = _post(api, file_server.url("/busy"), message_id="m-2")
    assert attachment_fetch.attachment_fetch(attachment_id=busy.pk) == "retry"
    busy.refresh_from_db()
    assert busy.status == "pending" and busy.fetch.next_attempt_at > timezone.now()
    assert attachment_fetch.attachment_fetch(attachment_id=busy.pk) == "skipped"  # not due yet
    # the engine's sweeper takes it once due (the broker-less test runs the task eagerly)
    settings.DELIVERY_SWEEP_GRACE = 0
    Delivery.objects.exclude(pk=busy.fetch_id).update(status="cancelled")  # only this row is due here
    assert deliveries_sweep() == 0
    file_server.routes["/busy"] = (200, jpeg_with_gps(), {})
    Delivery.objects.filter(pk=busy.fetch_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    busy.refresh_from_db()
    assert busy.status == "stored" and busy.fetch.kind == "attachment_fetch"


def test_last_transient_failure_is_final(api, media, file_server, settings):
    settings.ATTACHMENTS_FETCH_RETRY_SCHEDULE = []
    file_server.routes["/busy"] = (503, b"", {})
    busy = _post(api, file_server.url("/busy"))
    assert attachment_fetch.attachment_fetch(attachment_id=busy.pk) == "failed"
    busy.refresh_from_db()
    assert busy.failure_reason == "HTTP 503"


def test_redirect_is_not_followed(api, media, file_server):
    file_server.routes["/r"] = (302, b"", {"Location": "http://10.0.0.1/"})
    attachment = _post(api, file_server.url("/r"))
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "failed"
    assert file_server.hits == ["/r"]


def test_files_helper_is_used_for_links_only_when_stored(api, media):
    attachment = _post(api, "http://10.1.2.3/x.jpg")
    assert files.signed_url(attachment) is None
