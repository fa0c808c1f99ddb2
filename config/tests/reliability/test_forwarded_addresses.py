"""X-Forwarded-For is trusted only from the proxy's own configured address (TRUSTED_PROXIES).

Anyone can send the header; only our nginx may tell us who the client is. Without this,
a caller outside the fence claims an inside address, and a password guesser gets a fresh
anonymous-throttle bucket on every request.
"""

import pytest
from rest_framework.throttling import SimpleRateThrottle

from communications.models import Provider

from .callers import client_for

PROXY = "172.28.0.10"  # the nginx container's fixed address in docker-compose.yml


@pytest.fixture
def world(shared_world, db):
    """The module's world, built once (a test's writes roll back with its savepoint)."""
    return shared_world


@pytest.fixture
def fenced(settings):
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.TRUSTED_PROXIES = [f"{PROXY}/32"]
    return settings


def _providers(world, remote_addr: str, forwarded: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    client = client_for(world.tokens["service:marketplace"])
    return client.post("/internal/v1/providers", {"code": "netcheck", "label": "Сеть"}, format="json",
                       REMOTE_ADDR=remote_addr, **headers)


def test_forged_forwarded_for_from_outside_the_proxy_gets_403(world, fenced):
    # when: a caller outside the fence talks to gunicorn directly and claims an inside address
    response = _providers(world, "203.0.113.5", "10.9.9.9")
    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "network_not_allowed"
    assert not Provider.objects.filter(code="netcheck").exists()


def test_forged_entry_prepended_by_the_client_is_ignored_behind_the_proxy(world, fenced):
    # the proxy appends the address it saw (203.0.113.5) to what the client sent
    response = _providers(world, PROXY, "10.9.9.9, 203.0.113.5")
    assert response.status_code == 403


def test_the_proxy_forwarding_an_inside_client_is_let_through(world, fenced):
    response = _providers(world, PROXY, "10.4.4.4")
    assert response.status_code == 201, response.json()


def test_without_configured_proxies_the_header_is_ignored(world, fenced):
    fenced.TRUSTED_PROXIES = []
    assert _providers(world, PROXY, "10.4.4.4").status_code == 403
    assert _providers(world, "10.4.4.4", "203.0.113.5").status_code == 201


def test_a_garbage_forwarded_entry_from_the_proxy_is_not_an_address(world, fenced):
    assert _providers(world, PROXY, "not-an-ip").status_code == 403


def test_the_anonymous_throttle_ignores_a_rotating_forged_header(db, monkeypatch, settings):
    # given: an anonymous limit of 5 per client and no trusted proxy in front
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": "1000/min", "anon": "5/min"})
    settings.TRUSTED_PROXIES = [f"{PROXY}/32"]
    client = client_for(None)
    # when: one client sends 8 login guesses, each with a new X-Forwarded-For
    codes = [client.post("/api/auth/token/", {"username": "admin", "password": f"guess-{i}"}, format="json",
                         REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
             for i in range(8)]
    # then: the 6th and later are throttled
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 3


def test_the_anonymous_throttle_tells_clients_behind_the_proxy_apart(db, monkeypatch, settings):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": "1000/min", "anon": "2/min"})
    settings.TRUSTED_PROXIES = [f"{PROXY}/32"]
    client = client_for(None)

    def guess(address):
        return client.post("/api/auth/token/", {"username": "nobody", "password": "x"}, format="json",
                           REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address).status_code

    assert [guess("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert guess("198.51.100.2") == 401  # another client behind the same proxy has its own bucket
