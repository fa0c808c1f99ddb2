"""Files live as long as their rows: a deleted message, chat or tenant's data takes its files (issue 21)."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from communications.models import Attachment, Chat, Upload
from communications.services import files
from communications.tests.factories import PDF, message_payload, stored_files

pytestmark = pytest.mark.django_db


def _upload(api) -> dict:
    f = io.BytesIO(PDF)
    f.name = "a.pdf"
    return api.post("/api/v1/uploads", {"file": f}, format="multipart").json()


def test_deleting_the_tenants_chats_deletes_the_files(api, integration, media, django_capture_on_commit_callbacks):
    upload = _upload(api)
    api.post("/api/v1/messages", message_payload(attachments=[{"type": "file", "uploadId": upload["uploadId"]}]),
             format="json")
    assert len(stored_files(media)) == 1 and Attachment.objects.count() == 1  # used upload kept its file
    with django_capture_on_commit_callbacks(execute=True):
        Chat.objects.filter(tenant_id=integration.tenant_id).delete()
    assert Attachment.objects.count() == 0 and stored_files(media) == []


def test_expired_uploads_are_dropped_with_their_files(api, media, django_capture_on_commit_callbacks):
    _upload(api)
    _upload(api)
    Upload.objects.filter(pk=Upload.objects.first().pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert files.uploads_expired_delete() == 1
    assert Upload.objects.count() == 1 and len(stored_files(media)) == 1


def test_rolled_back_delete_keeps_the_file(api, integration, media, django_capture_on_commit_callbacks):
    upload = _upload(api)
    api.post("/api/v1/messages", message_payload(attachments=[{"type": "file", "uploadId": upload["uploadId"]}]),
             format="json")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Chat.objects.filter(tenant_id=integration.tenant_id).delete()
    assert len(callbacks) == 1 and len(stored_files(media)) == 1  # deleted only once the transaction commits
