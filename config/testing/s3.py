"""A real S3-compatible server on loopback for tests: moto's standalone server (issue 21).

    with MotoS3() as s3:
        settings.STORAGES = s3.storages(settings.STORAGES, bucket="b")  # what settings.py builds from ATTACHMENTS_S3_*
        s3.client().create_bucket(Bucket="b")

moto keeps its state per process, not per server: use a fresh bucket name per test.
"""

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY, SECRET_KEY = "test-key", "test-secret"


class MotoS3:
    def __init__(self):
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> "MotoS3":
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "MotoS3":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, region: str = "us-east-1"):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=region, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def storages(self, storages: dict, *, bucket: str, region: str = "us-east-1", **options) -> dict:
        """`storages` with the default storage on this server, as settings.py configures django-storages."""
        return {**storages, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": self.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "region_name": region, "addressing_style": "path", "signature_version": "s3v4", "default_acl": None,
            "querystring_auth": True, "querystring_expire": 3600, "file_overwrite": False, **options}}}
