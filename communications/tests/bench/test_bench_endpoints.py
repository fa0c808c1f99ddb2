"""The benchmark-only endpoints exist only when BENCH_ENDPOINTS is on (never in production)."""

import importlib

import pytest
from django.test import override_settings
from django.urls import Resolver404, clear_url_caches, resolve
from rest_framework.test import APIClient

import config.urls
from communications.models import BenchRow
from communications.tests.public_api.conftest import integration_create


def _reload_urls():
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def bench_urls():
    """config.urls rebuilt with BENCH_ENDPOINTS=1, restored to the default afterwards."""
    try:
        with override_settings(BENCH_ENDPOINTS=True):
            _reload_urls()
            yield
    finally:
        _reload_urls()


@pytest.mark.django_db
def test_bench_endpoints_are_not_mounted_by_default(client, settings):
    assert settings.BENCH_ENDPOINTS is False
    for url in ("/bench/ping", "/bench/floor"):
        with pytest.raises(Resolver404):
            resolve(url)
    assert client.get("/bench/ping").status_code == 404
    assert APIClient().post("/bench/floor", {}, format="json").status_code == 404
    assert not BenchRow.objects.exists()


@pytest.mark.django_db
def test_floor_authenticates_with_the_integration_token_and_inserts_one_row(bench_urls):
    integration = integration_create()

    anonymous = APIClient().post("/bench/floor", {}, format="json")
    bad_token = APIClient(HTTP_AUTHORIZATION="Bearer not-a-token").post("/bench/floor", {}, format="json")
    response = integration.client.post("/bench/floor", {}, format="json")

    assert anonymous.status_code == 401 and bad_token.status_code == 401
    assert response.status_code == 201
    row = BenchRow.objects.get()
    assert response.json() == {"id": row.pk} and row.tenant_id == integration.tenant_id


def test_ping_answers_without_authentication_when_mounted(bench_urls, client):
    response = client.get("/bench/ping")

    assert response.status_code == 200 and response.content == b"pong"
