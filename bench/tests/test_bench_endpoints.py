"""The benchmark-only app exists only when BENCH_ENDPOINTS is on (never in production): its endpoints are not
mounted and its table is not created otherwise."""

import importlib

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import Resolver404, clear_url_caches, resolve
from rest_framework.test import APIClient

import config.urls
from communications.tests.factories import integration_create


def _reload_urls():
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def bench_on():
    """As BENCH_ENDPOINTS=1 does: the bench app installed and config.urls rebuilt with /bench/ mounted;
    restored to the default afterwards."""
    try:
        with override_settings(BENCH_ENDPOINTS=True, INSTALLED_APPS=[*django_settings.INSTALLED_APPS, "bench"]):
            _reload_urls()
            yield
    finally:
        _reload_urls()


@pytest.fixture
def bench_table(bench_on):
    """The bench app's migration applied (its table created); migrated back to zero afterwards."""
    call_command("migrate", "bench", verbosity=0)
    try:
        from bench.models import BenchRow

        yield BenchRow
    finally:
        call_command("migrate", "bench", "zero", verbosity=0)


@pytest.mark.django_db
def test_bench_endpoints_and_table_do_not_exist_by_default(client, settings):
    assert settings.BENCH_ENDPOINTS is False
    assert "bench" not in settings.INSTALLED_APPS
    for url in ("/bench/ping", "/bench/floor"):
        with pytest.raises(Resolver404):
            resolve(url)
    assert client.get("/bench/ping").status_code == 404
    assert APIClient().post("/bench/floor", {}, format="json").status_code == 404
    # the migrated database (as production's) has no benchmark table, under either name
    tables = connection.introspection.table_names()
    assert "bench_benchrow" not in tables and "communications_benchrow" not in tables


@pytest.mark.django_db(transaction=True)
def test_floor_authenticates_with_the_integration_token_and_inserts_one_row(bench_table):
    integration = integration_create()

    anonymous = APIClient().post("/bench/floor", {}, format="json")
    bad_token = APIClient(HTTP_AUTHORIZATION="Bearer not-a-token").post("/bench/floor", {}, format="json")
    response = integration.client.post("/bench/floor", {}, format="json")

    assert anonymous.status_code == 401 and bad_token.status_code == 401
    assert response.status_code == 201
    row = bench_table.objects.get()
    assert response.json() == {"id": row.pk} and row.tenant_id == integration.tenant_id


def test_ping_answers_without_authentication_when_mounted(bench_on, client):
    response = client.get("/bench/ping")

    assert response.status_code == 200 and response.content == b"pong"
