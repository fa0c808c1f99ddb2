"""The S3 path against a real S3-compatible server on loopback: moto's standalone server (issue 21)."""

import hashlib
import io

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from communications.models import Attachment, Upload
from communications.services import attachment_fetch, files
from communications.tests.factories import has_gps, jpeg_with_gps, message_payload

pytestmark = pytest.mark.django_db
BUCKET = "sbercrm-attachments"


@pytest.fixture
def s3(settings):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret",
                   "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, **credentials)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": endpoint, "access_key": "test-key", "secret_key": "test-secret",
        "region_name": "us-east-1", "addressing_style": "path", "signature_version": "s3v4", "default_acl": None,
        "querystring_auth": True, "querystring_expire": 3600, "file_overwrite": False}}}
    yield client
    server.stop()


def _keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_upload_is_stored_in_s3_and_read_through_a_presigned_url(api, s3):
    data = jpeg_with_gps()
    f = io.BytesIO(data)
    f.name = "photo.jpg"
    upload = api.post("/api/v1/uploads", {"file": f, "type": "image"}, format="multipart")
    assert upload.status_code == 201, upload.content
    key = Upload.objects.get().file.name
    assert key in _keys(s3) and key.startswith("attachments/") and "photo" not in key
    stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert not has_gps(stored)
    message = api.post("/api/v1/messages", message_payload(text="", attachments=[
        {"type": "image", "uploadId": upload.json()["uploadId"]}]), format="json").json()
    url = message["attachments"][0]["url"]
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=" in url  # presigned (SigV4), never public
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == message["attachments"][0]["checksum"]


def test_fetch_by_url_lands_in_s3(api, s3, file_server):
    file_server.routes["/a.jpg"] = (200, jpeg_with_gps(), {})
    api.post("/api/v1/messages", message_payload(text="", attachments=[
        {"type": "image", "url": file_server.url("/a.jpg")}]), format="json")
    attachment = Attachment.objects.get()
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "stored"
    attachment.refresh_from_db()
    assert attachment.file.name in _keys(s3)  # moto's state outlives one test: other keys may be there
    assert requests.get(files.signed_url(attachment), timeout=10).content == s3.get_object(
        Bucket=BUCKET, Key=attachment.file.name)["Body"].read()
