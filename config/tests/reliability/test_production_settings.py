"""Production settings: `check --deploy` is clean, and the internal API can be fenced to networks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from .callers import client_for

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_ENV = {"DEBUG": "0", "ALLOWED_HOSTS": "crm.example.com", "DATABASE_URL": "sqlite:///:memory:",
                  "REDIS_URL": "", "CELERY_BROKER_URL": ""}


@pytest.fixture
def world(shared_world, db):
    """The module's world, built once (a test's writes roll back with its savepoint)."""
    return shared_world


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SECURE_", "SESSION_", "CSRF_")) and k not in {"DEBUG", "SECRET_KEY"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **PRODUCTION_ENV, **env},
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_in_the_production_environment_has_no_warnings():
    # when: the deployment checklist runs with the production environment (HTTPS, HSTS, secure cookies)
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50))
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_weak_secret_key():
    # the same check fails on a weak secret, so the test above can fail for real
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY="short")
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_a_malformed_network_in_the_allow_list_stops_the_start():
    result = manage("check", SECRET_KEY=secrets.token_urlsafe(50), INTERNAL_API_ALLOWED_NETWORKS="10.0.0.0/8,10.0.0")
    assert result.returncode != 0
    assert "INTERNAL_API_ALLOWED_NETWORKS" in result.stderr


# --- INTERNAL_API_ALLOWED_NETWORKS ---------------------------------------------------------------

def _providers(world, remote_addr: str, **headers):
    client = client_for(world.tokens["service:marketplace"])
    return client.post("/internal/v1/providers", {"code": "netcheck", "label": "Сеть"}, format="json",
                       REMOTE_ADDR=remote_addr, **headers)


@pytest.mark.parametrize(("remote_addr", "allowed"), [
    ("10.1.2.3", True), ("192.168.7.7", True), ("::ffff:10.9.9.9", True),
    ("203.0.113.5", False), ("192.168.8.1", False), ("fd00::1", False),
])
def test_internal_api_answers_only_to_allowed_networks(world, settings, remote_addr, allowed):
    from communications.models import Provider

    # given
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.0.0.0/8", "192.168.7.0/24"]
    # when: the marketplace service (valid token) calls from remote_addr
    response = _providers(world, remote_addr)
    # then
    if allowed:
        assert response.status_code == 201, response.json()
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "network_not_allowed"
    assert Provider.objects.filter(code="netcheck").exists() is allowed


def test_empty_allow_list_lets_every_network_call(world, settings):
    settings.INTERNAL_API_ALLOWED_NETWORKS = []
    assert _providers(world, "203.0.113.5").status_code == 201


def test_other_surfaces_are_not_fenced(world, settings):
    # the public API and notifications are reached from outside; only /internal/ is fenced
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    public = client_for(world.tokens["integration:A-X"]).get("/api/v1/webhooks", REMOTE_ADDR="203.0.113.5")
    assert public.status_code == 200


def test_forwarded_address_is_used_only_behind_trusted_proxies(world, settings):
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    # the proxy (127.0.0.1) forwards a client from outside; a client's own spoofed entry comes first
    spoofed = {"HTTP_X_FORWARDED_FOR": "10.0.0.1, 203.0.113.5"}
    settings.TRUSTED_PROXIES = []
    assert _providers(world, "127.0.0.1", **spoofed).status_code == 403  # REMOTE_ADDR is the proxy, not allowed
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert _providers(world, "127.0.0.1", **spoofed).status_code == 403  # the proxy saw 203.0.113.5
    assert _providers(world, "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5, 10.4.4.4").status_code == 201
