import io

import pytest
from PIL import ExifTags, Image

from communications.tests.public_api.conftest import api, integration, other_provider, other_tenant  # noqa: F401

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def media(settings, tmp_path):
    """Files go to a fresh directory (the default local storage) for the test."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (16, 16), "red")
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    return ExifTags.IFD.GPSInfo in Image.open(io.BytesIO(data)).getexif()
