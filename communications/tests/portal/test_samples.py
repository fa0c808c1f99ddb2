"""The code samples shown in the guide run against the real code, so they cannot rot."""

import importlib.util
import os
import subprocess
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from standardwebhooks import WebhookVerificationError

from communications.models import Channel, Chat, Message, Webhook
from communications.portal.views import SAMPLES_DIR
from communications.provider_contract import EXAMPLE_SEND_MESSAGE
from communications.services.deliveries import provider_call_now, provider_signing_secret_issue
from communications.tests.factories import integration_create, make_tenant_configuration


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"portal_sample_{name}", SAMPLES_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(sample: str, live_server, token: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SBERCRM_API_URL": f"{live_server.url}/api/v1", "SBERCRM_TOKEN": token}
    return subprocess.run([sys.executable, str(SAMPLES_DIR / sample)], env=env, capture_output=True, text=True,
                          timeout=60)


# --- signature verification --------------------------------------------------------------

@pytest.fixture
def signed_call(db, fake_provider, settings):
    """A real provider call made by our client to a local server: (secret, raw body, headers)."""
    settings.PROVIDER_ALLOW_LOOPBACK = True
    tenant_configuration = make_tenant_configuration(fake_provider)
    secret = provider_signing_secret_issue(provider=tenant_configuration.provider)
    provider_call_now(tenant_configuration=tenant_configuration, endpoint="sendMessage",
                      payload={**EXAMPLE_SEND_MESSAGE, "text": "Привет"}, idempotency_key="key-1")
    recorded = fake_provider.requests[-1]
    return secret, recorded.body, recorded.headers


@pytest.fixture
def fake_provider():
    from config.testing.fake_provider import FakeProvider

    with FakeProvider() as fake:
        yield fake


def test_signature_sample_accepts_our_real_signature(signed_call):
    secret, body, headers = signed_call
    sample = _load("verify_signature")
    assert sample.verify_with_library(secret, body, headers)["text"] == "Привет"
    sample.verify_with_hmac(secret, body, headers)  # no exception


def test_signature_sample_rejects_a_tampered_body_or_another_secret(signed_call):
    secret, body, headers = signed_call
    sample = _load("verify_signature")
    tampered = body.replace("Привет".encode(), "Пока!!".encode())
    with pytest.raises(WebhookVerificationError):
        sample.verify_with_library(secret, tampered, headers)
    with pytest.raises(ValueError):
        sample.verify_with_hmac(secret, tampered, headers)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    with pytest.raises(ValueError):
        sample.verify_with_hmac(other, body, headers)


# --- provider endpoint ---------------------------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def sample_endpoint(db, fake_provider, settings, monkeypatch):
    """samples/provider_endpoint.py, configured through its env vars, served on 127.0.0.1 as sendMessage."""
    settings.PROVIDER_ALLOW_LOOPBACK = True
    tenant_configuration = make_tenant_configuration(fake_provider, endpoints={"sendMessage": "http://placeholder"})
    monkeypatch.setenv("SBERCRM_SIGNING_SECRET", provider_signing_secret_issue(provider=tenant_configuration.provider))
    monkeypatch.setenv("PROVIDER_API_KEY", tenant_configuration.configuration.auth_key)
    sample = _load("provider_endpoint")
    server = make_server("127.0.0.1", 0, sample.app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/sendMessage"
    configuration = tenant_configuration.configuration
    configuration.endpoints = {"sendMessage": url}
    configuration.save(update_fields=["endpoints"])
    yield sample, tenant_configuration, url
    server.shutdown()


def test_endpoint_sample_answers_a_retry_with_the_same_message_id(sample_endpoint):
    sample, tenant_configuration, _ = sample_endpoint

    def send(key):
        return provider_call_now(tenant_configuration=tenant_configuration, endpoint="sendMessage",
                                 payload=EXAMPLE_SEND_MESSAGE,
                                 idempotency_key=key)

    first, retry, other = send("key-1"), send("key-1"), send("key-2")
    assert first.status_code == 200 and first.json["messageId"]
    assert retry.json == first.json  # a retry does not send the message again
    assert other.json["messageId"] != first.json["messageId"]
    assert len(sample.sent) == 2


def test_endpoint_sample_answers_400_not_500_without_an_idempotency_key(sample_endpoint):
    """Issue 16 item 11: a signed call without Idempotency-Key is refused clearly."""
    from datetime import UTC, datetime

    from standardwebhooks import Webhook as Signer

    sample, _, url = sample_endpoint
    body, now = b'{"text": "x"}', datetime.now(UTC)
    headers = {"webhook-id": "msg-1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Signer(os.environ["SBERCRM_SIGNING_SECRET"]).sign("msg-1", now, body.decode()),
               "X-API-Key": sample.API_KEY, "Content-Type": "application/json"}
    response = requests.post(url, data=body, headers=headers, timeout=5)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]
    assert sample.sent == []


def test_endpoint_sample_refuses_unsigned_or_unauthenticated_calls(sample_endpoint):
    sample, _, url = sample_endpoint
    headers = {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    no_key = requests.post(url, json={}, headers=headers, timeout=5)
    bad_signature = requests.post(url, json={}, headers={**headers, "X-API-Key": sample.API_KEY}, timeout=5)
    assert no_key.status_code == 401 and bad_signature.status_code == 401
    assert sample.sent == []


# --- public API calls ---------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_public_api_message_sample_creates_then_repeats_safely(live_server):
    integration = integration_create()
    first = _run("public_api_message.py", live_server, integration.value)
    second = _run("public_api_message.py", live_server, integration.value)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("201 created msg-5001 chat-1001 sent")
    assert second.returncode == 0 and second.stdout.startswith("200 already saved")
    message = Message.objects.get(external_id="msg-5001", chat__tenant_id=integration.tenant_id)
    assert message.chat.participants.count() == 1
    # issue 16 item 7: the chat belongs to a connected channel, so operator replies name it
    assert message.chat.channel.external_id == "tg-bot-1" and message.chat.channel.account.is_active


@pytest.mark.django_db(transaction=True)
def test_public_api_sample_for_every_endpoint_runs_end_to_end(live_server):
    integration = integration_create()
    scope = {"tenant_id": integration.tenant_id, "provider": integration.provider}
    result = _run("public_api_all.py", live_server, integration.value)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("done")
    assert "webhook secret shown True" in result.stdout
    chat = Chat.objects.get(external_id="chat-1001", **scope)
    assert chat.title == "Иван Петров (VIP)" and chat.participants.count() == 3
    message = Message.objects.get(external_id="msg-5001", chat=chat)
    assert message.text == "Здравствуйте! Где мой заказ №123?" and message.status == "delivered"
    assert message.seen_flag is True
    assert Message.objects.filter(chat__external_id="chat-2002", chat__tenant_id=integration.tenant_id).count() == 2
    assert not Webhook.objects.filter(**scope).exists()
    assert Channel.objects.get(external_id="tg-bot-1", **scope).account.is_active is False


@pytest.mark.django_db(transaction=True)
def test_public_api_attachment_sample_uploads_then_references(live_server, tmp_path, settings):
    from communications.tests.factories import has_gps, jpeg_with_gps

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")}}}
    integration = integration_create()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_with_gps())
    env = {**os.environ, "SBERCRM_API_URL": f"{live_server.url}/api/v1", "SBERCRM_TOKEN": integration.value}
    result = subprocess.run([sys.executable, str(SAMPLES_DIR / "public_api_attachment.py"), str(photo)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("201 msg-5002 reply unresolved stored ")
    assert result.stdout.strip().endswith("location")
    message = Message.objects.get(external_id="msg-5002", tenant_id=integration.tenant_id)
    stored = message.attachments.get(type="image")
    assert not has_gps((tmp_path / "media" / stored.file.name).read_bytes())
