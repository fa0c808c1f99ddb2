"""SSRF guard of the outbound client: internal targets are refused in every spelling, redirects are
never followed, and a local sink records zero connections."""

import socket
import threading

import pytest
from django.db import transaction

from communications import clients
from communications.models import Delivery
from communications.services.deliveries import delivery_enqueue
from communications.tests.factories import make_tenant_configuration
from config.testing.fake_provider import FakeProvider


class Sink:
    """A TCP listener on 127.0.0.1 that only counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


def internal_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/x", f"http://localhost:{port}/x", f"http://LocalHost:{port}/x",
        f"http://2130706433:{port}/x", f"http://0x7f000001:{port}/x", f"http://0177.0.0.1:{port}/x",
        f"http://127.1:{port}/x", f"http://0.0.0.0:{port}/x", f"http://[::1]:{port}/x",
        f"http://[::ffff:127.0.0.1]:{port}/x", "http://10.0.0.1/x", "http://172.16.5.4/x", "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x", "http://[fd00::1]/x", "http://100.64.0.1/x",
        "http://224.0.0.1/x", "http://240.0.0.1/x", "http://3232235777/x",  # 192.168.1.1 as a decimal
    ]


def test_internal_targets_are_refused_in_every_spelling(sink, settings):
    # given: production mode, loopback not allowed
    settings.PROVIDER_ALLOW_LOOPBACK = False
    refused = []
    for url in internal_urls(sink.port):
        # when
        try:
            clients.post_json(url=url, payload={}, idempotency_key="k")
        except clients.UnsafeTargetError:
            refused.append(url)
    # then
    assert refused == internal_urls(sink.port)
    assert sink.connections == 0


@pytest.mark.parametrize("url", ["ftp://provider.example/x", "file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "http://user:secret@provider.example/x", "http:///nohost"])
def test_other_schemes_credentials_and_hostless_urls_are_refused(url):
    with pytest.raises(clients.UnsafeTargetError):
        clients.resolve_safe(url)


def test_redirect_to_an_internal_host_is_not_followed(sink, settings):
    # given: a (loopback-allowed, test) provider that answers with a redirect to the sink
    settings.PROVIDER_ALLOW_LOOPBACK = True
    with FakeProvider() as provider:
        for location in (f"http://127.0.0.1:{sink.port}/admin", "http://169.254.169.254/latest/meta-data/"):
            provider.redirect_next(location)
            # when
            result = clients.post_json(url=provider.endpoints()["sendMessage"], payload={}, idempotency_key="k")
            # then: the 3xx is returned as is
            assert result.status_code == 302 and result.headers["Location"] == location
    assert sink.connections == 0


def test_deliveries_to_internal_addresses_die_without_a_connection(db, sink, settings,
                                                                   django_capture_on_commit_callbacks):
    # given: configurations whose endpoints point at internal addresses, in production mode
    settings.PROVIDER_ALLOW_LOOPBACK = False
    deliveries = []
    with FakeProvider() as provider:
        for host in ("localhost", "2130706433", "127.0.0.1", "[::ffff:127.0.0.1]"):
            endpoints = {name: f"http://{host}:{sink.port}/{name}" for name in provider.endpoints()}
            tc = make_tenant_configuration(provider, endpoints=endpoints)
            # when: a call is queued and the worker (eager) runs it
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                deliveries.append(delivery_enqueue(tenant_configuration=tc, endpoint="sendMessage", payload={}))
    # then: dead at once (retrying cannot help), and not a single connection was made
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.DEAD, delivery.last_error
        assert "SSRF" in delivery.last_error
    assert sink.connections == 0


# Every IPv6 form that carries an IPv4 address, each with a loopback and a private IPv4 inside.
EMBEDDED_INTERNAL_IPV4 = {
    "6to4 (2002::/16) of 127.0.0.1": "2002:7f00:1::",
    "6to4 (2002::/16) of 10.0.0.1": "2002:a00:1::1",
    "6to4 (2002::/16) of 192.168.1.1": "2002:c0a8:101::",
    "NAT64 (64:ff9b::/96) of 127.0.0.1": "64:ff9b::7f00:1",
    "NAT64 (64:ff9b::/96) of 172.16.5.4": "64:ff9b::172.16.5.4",
    "local-use NAT64 (64:ff9b:1::/48) of 127.0.0.1": "64:ff9b:1:7f00:1::",
    "local-use NAT64 (64:ff9b:1::/48), /96 layout": "64:ff9b:1::10.0.0.1",
    "Teredo (2001::/32), server 127.0.0.1": "2001:0:7f00:1::",
    "Teredo (2001::/32), client 127.0.0.1": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "IPv4-mapped of 127.0.0.1": "::ffff:127.0.0.1",
    "IPv4-mapped of 192.168.1.1": "::ffff:c0a8:101",
    "IPv4-compatible of 127.0.0.1": "::127.0.0.1",
    "IPv4-compatible of 10.0.0.1": "::a00:1",
    "IPv4-translated (::ffff:0:0/96) of 10.0.0.1": "::ffff:0:a00:1",
}


@pytest.mark.parametrize("address", EMBEDDED_INTERNAL_IPV4.values(), ids=EMBEDDED_INTERNAL_IPV4.keys())
def test_ipv6_forms_embedding_an_internal_ipv4_are_refused(address, settings):
    # given: production mode
    settings.PROVIDER_ALLOW_LOOPBACK = False
    # when / then
    with pytest.raises(clients.UnsafeTargetError, match="SSRF"):
        clients.resolve_safe(f"http://[{address}]:8080/x")


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808"], ids=["6to4", "NAT64"])
def test_ipv6_forms_embedding_a_public_ipv4_stay_allowed(address, settings):
    # given: the embedded address is public (8.8.8.8): an IPv6-only host reaches it this way
    settings.PROVIDER_ALLOW_LOOPBACK = False
    # when
    url, host = clients.resolve_safe(f"http://[{address}]:8080/x")
    # then
    assert url == f"http://[{address}]:8080/x" and host == f"{address}:8080"


@pytest.fixture
def empty_dns_cache():
    clients.dns_cache_clear()
    yield
    clients.dns_cache_clear()


def test_a_cached_answer_is_vetted_again_on_every_use(sink, settings, empty_dns_cache):
    # given: localhost was resolved (and allowed) while loopback was allowed
    settings.PROVIDER_ALLOW_LOOPBACK = True
    clients.resolve_safe(f"http://localhost:{sink.port}/x")
    before = clients.dns_cache_info()
    # when: loopback is no longer allowed
    settings.PROVIDER_ALLOW_LOOPBACK = False
    # then: the cached address is refused, with no new lookup
    with pytest.raises(clients.UnsafeTargetError, match="SSRF"):
        clients.resolve_safe(f"http://localhost:{sink.port}/y")
    after = clients.dns_cache_info()
    assert (after["hits"] - before["hits"], after["misses"] - before["misses"]) == (1, 0)


def test_answers_are_reused_per_host_and_port_until_they_expire(settings, empty_dns_cache, time_machine):
    # given: short lifetimes
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_DNS_CACHE_SECONDS = 30
    settings.PROVIDER_DNS_NEGATIVE_CACHE_SECONDS = 5
    time_machine.move_to("2026-12-01 10:00:00", tick=False)
    start = clients.dns_cache_info()

    def lookups():
        now = clients.dns_cache_info()
        return now["misses"] - start["misses"], now["hits"] - start["hits"]

    # when: the same host is asked on two paths, then on another port
    clients.resolve_safe("http://localhost:9/a")
    clients.resolve_safe("http://LOCALHOST:9/b")
    clients.resolve_safe("http://localhost:10/a")
    # then: one lookup per (host, port)
    assert lookups() == (2, 1)
    # when: a name that does not resolve is asked twice within its negative lifetime
    for _ in range(2):
        with pytest.raises(clients.TransportError, match="не удалось разрешить"):
            clients.resolve_safe("http://no-such-host.invalid/x")
    assert lookups() == (3, 2)
    # when: the positive lifetime passes
    time_machine.shift(31)
    clients.resolve_safe("http://localhost:9/a")
    # then: it is looked up again
    assert lookups() == (4, 2)


def test_a_zero_lifetime_looks_up_every_call(settings, empty_dns_cache):
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_DNS_CACHE_SECONDS = 0
    before = clients.dns_cache_info()
    for _ in range(3):
        clients.resolve_safe("http://localhost:9/a")
    after = clients.dns_cache_info()
    assert (after["hits"] - before["hits"], after["misses"] - before["misses"], after["size"]) == (0, 3, 0)
