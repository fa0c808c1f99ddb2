"""`manage.py attachments_bucket_create` (docker-compose.yml's storage-init) against moto's standalone S3 server."""

import io
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError

from config.testing.s3 import MotoS3


@pytest.fixture(scope="module")
def s3():
    with MotoS3() as server:
        yield server


def _run() -> str:
    out = io.StringIO()
    call_command("attachments_bucket_create", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
def test_creates_the_private_bucket_once_and_a_second_run_changes_nothing(settings, s3, region):
    # given: a store without the bucket (moto's state is per process: a fresh name)
    bucket = f"sbercrm-attachments-{uuid.uuid4().hex[:8]}"
    client = s3.client(region)
    settings.STORAGES = s3.storages(settings.STORAGES, bucket=bucket, region=region)
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=bucket)
    # when
    first = _run()
    client.put_object(Bucket=bucket, Key="attachments/kept.txt", Body=b"kept")
    second = _run()
    # then: created once; the second run found it and left its content alone
    assert first.strip() == f"Бакет {bucket} создан."
    assert second.strip() == f"Бакет {bucket} уже есть."
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["attachments/kept.txt"]
    # and it is private: no policy, and the ACL grants nobody but the owner
    with pytest.raises(ClientError) as no_policy:
        client.get_bucket_policy(Bucket=bucket)
    assert no_policy.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    grants = client.get_bucket_acl(Bucket=bucket)["Grants"]
    assert [grant["Grantee"]["Type"] for grant in grants] == ["CanonicalUser"]


def test_local_storage_needs_no_bucket(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    assert "бакет не нужен" in _run()


def test_an_unreachable_store_fails_the_step(settings):
    # given: nothing listens there (compose then keeps web and worker from starting)
    settings.STORAGES = MotoS3().storages(settings.STORAGES, bucket="b", endpoint_url="http://127.0.0.1:9",
                                          client_config=Config(connect_timeout=1, retries={"max_attempts": 1}))
    # when / then: a command error naming the endpoint (a non-zero exit), not a traceback
    with pytest.raises(CommandError, match="Хранилище http://127.0.0.1:9 недоступно"):
        _run()
