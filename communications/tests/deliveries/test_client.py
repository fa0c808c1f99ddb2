"""The hardened outbound client against a real local server."""

import json

import pytest
from standardwebhooks import Webhook

from communications import clients
from config.testing.fake_provider import Reaction

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def loopback(settings):
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_READ_TIMEOUT = 1
    return settings


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x",
    "http://localhost:9/x",
    "http://2130706433:9/x",        # decimal form of 127.0.0.1
    "http://[::1]:9/x",
    "http://[::ffff:127.0.0.1]:9/x",
])
def test_guard_refuses_loopback_when_not_allowed(settings, url):
    settings.PROVIDER_ALLOW_LOOPBACK = False
    with pytest.raises(clients.UnsafeTargetError):
        clients.resolve_safe(url)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/x",
    "http://10.255.1.2:8080/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://192.168.1.1/",
    "http://172.16.0.5/",
    "http://100.64.0.1/",            # carrier-grade NAT
    "http://0.0.0.0/",
    "http://224.0.0.1/",             # multicast
    "http://167772161/",             # decimal form of 10.0.0.1
    "http://0xa9fea9fe/",            # hex form of 169.254.169.254
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "ftp://example.com/file",
    "http://user:pass@example.com/",
])
def test_guard_refuses_private_link_local_and_odd_targets_even_with_loopback_allowed(loopback, url):
    with pytest.raises(clients.UnsafeTargetError):
        clients.resolve_safe(url)


def test_guard_pins_the_connection_to_the_vetted_address(loopback):
    target, host = clients.resolve_safe("http://localhost:8080/sendMessage?x=1")
    assert target == "http://127.0.0.1:8080/sendMessage?x=1"
    assert host == "localhost:8080"


def test_post_json_sends_json_auth_idempotency_and_user_agent_to_pinned_host(loopback, fake_provider):
    # when: addressed by name, connected to the vetted IP
    result = clients.post_json(url=f"http://localhost:{fake_provider.port}/sendMessage", payload={"text": "Привет"},
                               idempotency_key="key-1", auth_header="X-API-Key", auth_key="k-123")
    # then
    assert result.status_code == 200 and result.json["messageId"].startswith("prov-")
    request = fake_provider.requests[0]
    assert request.headers["host"] == f"localhost:{fake_provider.port}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == "k-123"
    assert request.headers["idempotency-key"] == "key-1"
    assert request.headers["user-agent"].startswith("SberCRM-Communications/")
    assert request.json == {"text": "Привет"}


def test_a_cookie_set_by_a_receiver_is_never_sent_back_on_a_later_call(loopback, fake_provider):
    """Calls of every tenant to one receiver share kept-alive connections: a cookie of one call must not ride
    along with the next (another tenant's)."""
    # given: the receiver answers a call with a cookie
    fake_provider.script(Reaction(headers={"Set-Cookie": "session=tenant-a; Path=/"}))
    first = clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={"n": 1}, idempotency_key="c-1")
    assert first.headers.get("Set-Cookie", "").startswith("session=tenant-a")
    # when: the next call goes to the same receiver
    clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={"n": 2}, idempotency_key="c-2")
    # then: it carries no cookie, and the default headers of requests are still there
    later = fake_provider.requests[1]
    assert "cookie" not in later.headers
    assert later.headers["accept-encoding"] == "gzip, deflate" and later.headers["accept"] == "application/json"


def test_signature_verifies_with_standardwebhooks_package(loopback, fake_provider):
    clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={"a": 1}, idempotency_key="msg-42",
                      signing_secrets=[SECRET])
    request = fake_provider.requests[0]
    # then: a receiver using the public package accepts it ...
    assert Webhook(SECRET).verify(request.body, request.headers) == {"a": 1}
    assert request.headers["webhook-id"] == "msg-42"
    # ... and a tampered body or another secret is rejected
    with pytest.raises(Exception):
        Webhook(SECRET).verify(json.dumps({"a": 2}).encode(), request.headers)
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


def test_two_secrets_give_two_signatures_each_verifiable(loopback, fake_provider):
    other = "whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC"
    clients.post_json(url=f"{fake_provider.url}/x", payload={}, idempotency_key="m", signing_secrets=[SECRET, other])
    request = fake_provider.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(request.body, request.headers)
    Webhook(other).verify(request.body, request.headers)


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/other"])
def test_redirect_is_returned_not_followed(loopback, fake_provider, location):
    # given: the provider redirects to the metadata service, or even to an allowed address
    fake_provider.redirect_next(location.format(port=fake_provider.port))
    # when
    result = clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={}, idempotency_key="r")
    # then: nothing followed it
    assert result.status_code == 302
    assert len(fake_provider.requests) == 1


def test_stalled_server_raises_retryable_transport_error(loopback, fake_provider):
    fake_provider.script(Reaction(delay=2.5))
    with pytest.raises(clients.TransportError) as caught:
        clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={}, idempotency_key="t")
    assert caught.value.retryable


def test_server_dripping_its_answer_past_the_deadline_raises_retryable_timeout(loopback, fake_provider):
    # given: every read gets a byte within the 1 s read timeout, the whole answer takes 4.2 s
    loopback.PROVIDER_CONNECT_TIMEOUT = 1
    fake_provider.script(Reaction(trickle=0.7))
    # when / then: cut off once connect + read timeouts (2 s) have passed
    with pytest.raises(clients.TransportError) as caught:
        clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={}, idempotency_key="d")
    assert caught.value.retryable and "таймаут" in str(caught.value)


def test_answer_dripping_within_the_deadline_is_read_whole(loopback, fake_provider):
    loopback.PROVIDER_CONNECT_TIMEOUT = 5
    fake_provider.script(Reaction(trickle=0.1, body={"messageId": "drip-1"}))
    result = clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={}, idempotency_key="w")
    assert result.status_code == 200 and result.json == {"messageId": "drip-1"}


def test_server_gone_raises_retryable_transport_error(loopback, fake_provider):
    fake_provider.go_away()
    with pytest.raises(clients.TransportError):
        clients.post_json(url=f"{fake_provider.url}/sendMessage", payload={}, idempotency_key="g")
