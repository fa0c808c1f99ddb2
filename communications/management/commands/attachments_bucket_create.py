"""Create the attachments bucket when it is missing (docker-compose.yml runs it before web and worker).

The client is the attachment storage's own (django-storages, settings.STORAGES["default"]): the same
endpoint, keys, region, signature and addressing style as every read and write of a file. Idempotent:
an existing bucket is left as it is. The bucket gets no ACL and no policy, so it stays private.
"""

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

MISSING = {"404", "NoSuchBucket", "NotFound"}


class Command(BaseCommand):
    help = ("Создаёт приватный бакет вложений в S3-совместимом хранилище (ATTACHMENTS_S3_BUCKET), если его нет. "
            "Повторный запуск ничего не меняет.")
    requires_system_checks: list = []  # needs the storage settings only, not the database

    def handle(self, *args, **options):
        bucket = getattr(default_storage, "bucket_name", None)
        if not bucket:
            self.stdout.write("Вложения хранятся в локальной папке MEDIA_ROOT (ATTACHMENTS_S3_BUCKET не задан): "
                              "бакет не нужен.")
            return
        client = default_storage.connection.meta.client
        try:
            client.head_bucket(Bucket=bucket)
        except BotoCoreError as error:  # no answer: the store is down or the endpoint is wrong
            raise CommandError(f"Хранилище {client.meta.endpoint_url} недоступно: {error}") from error
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in MISSING:
                raise CommandError(f"Бакет {bucket} недоступен: {error}") from error
        else:
            self.stdout.write(f"Бакет {bucket} уже есть.")
            return
        region = client.meta.region_name
        location = {} if region in (None, "us-east-1") else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            client.create_bucket(Bucket=bucket, **location)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":  # a concurrent run
                raise CommandError(f"Бакет {bucket} не создан: {error}") from error
        self.stdout.write(f"Бакет {bucket} создан.")
