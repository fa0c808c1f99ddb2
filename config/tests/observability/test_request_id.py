"""One request id from the API entry to the provider (issue 20)."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from communications.models import Delivery, TenantConfiguration
from communications.tests.factories import DeliveryFactory, chat_make, provider_setup, tenant_install
from config.observability.request_id import JsonFormatter, RequestIdFilter, request_id_scope
from config.testing.processes import wait_until
from delivery.engine import deliveries_sweep

BASE = "/internal/v1/operator"


# --- entry: accepted, generated, returned ------------------------------------------

@pytest.mark.django_db
def test_a_valid_incoming_request_id_is_returned_unchanged(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="lb-7f3a.42:abc")
    assert response["X-Request-Id"] == "lb-7f3a.42:abc"


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 200, "bad\u00e9id", "-starts-with-dash"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, incoming):
    extra = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}
    response = client.get("/healthz/live", **extra)
    generated = response["X-Request-Id"]
    assert generated != incoming and len(generated) == 32 and int(generated, 16) >= 0


@pytest.mark.django_db
def test_every_response_carries_the_id_even_errors_and_refusals(api_client, settings):
    settings.INTERNAL_API_ALLOWED_NETWORKS = ["10.9.9.0/24"]  # the test client is 127.0.0.1: refused
    refused = api_client.get(f"{BASE}/chats", HTTP_X_REQUEST_ID="req-refused")
    unauthenticated = api_client.get("/api/v1/channels", HTTP_X_REQUEST_ID="req-401")
    assert refused.status_code == 403 and refused["X-Request-Id"] == "req-refused"
    assert unauthenticated.status_code == 401 and unauthenticated["X-Request-Id"] == "req-401"


# --- logs --------------------------------------------------------------------------

def test_the_console_handler_stamps_every_line_with_the_request_id():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RequestIdFilter) for f in h.filters))
    record = logging.LogRecord("communications.x", logging.INFO, __file__, 1, "sent %s", ("ok",), None)
    with request_id_scope("req-log-1"):
        handler.filter(record)
    assert "[req-log-1] sent ok" in handler.format(record)


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord("bots", logging.WARNING, __file__, 1, "привет %s", ("мир",), None)
    with request_id_scope("req-json-1"):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-json-1" and line["message"] == "привет мир" and line["level"] == "WARNING"


# --- end to end: operator API → Celery headers → delivery row → provider ---------------

@pytest.fixture
def trace_handler():
    """Collects formatted worker log lines with the request id, as the console handler does."""
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(level=logging.WARNING)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("[%(request_id)s] %(message)s"))
    logging.getLogger().addHandler(handler)
    yield lines
    logging.getLogger().removeHandler(handler)


def operator_send(fake, crm_client, *, request_id: str, fail_status: int):
    """An active integration with a chat; the provider fails the first sendMessage; the CRM sends one."""
    provider = provider_setup(fake)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    fake.fail_endpoint("sendMessage", count=1, status=fail_status)
    response = crm_client.post(f"{BASE}/chats/chat-1/messages",
                               {"tenantId": str(tenant_id), "providerCode": provider.code, "text": "Добрый день"},
                               HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 201, response.json()
    return tenant_id, response


@pytest.mark.integration
def test_one_request_id_from_the_operator_api_to_every_provider_attempt(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given/when: the provider fails the first attempt; the CRM sends a message with its own request id
    tenant_id, response = operator_send(fake_provider, crm_client, request_id="crm-trace-0001", fail_status=503)
    fake_provider.wait_for(lambda: fake_provider.accepted_list("sendMessage"))
    # then: the response, the delivery row and both attempts (the failed one and the retry) carry it
    assert response["X-Request-Id"] == "crm-trace-0001"
    delivery = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    assert delivery.request_id == "crm-trace-0001"
    attempts = [r for r in fake_provider.requests if r.endpoint == "sendMessage"]
    assert len(attempts) == 2
    assert [r.headers["x-request-id"] for r in attempts] == ["crm-trace-0001", "crm-trace-0001"]


@pytest.mark.integration
def test_the_worker_logs_a_failed_call_under_the_request_id_of_the_api_call(
        transactional_db, celery_worker, fast, fake_provider, crm_client, trace_handler):
    # given/when: the provider refuses sendMessage for good
    tenant_id, _ = operator_send(fake_provider, crm_client, request_id="crm-trace-dead", fail_status=400)
    wait_until(lambda: Delivery.objects.filter(tenant_id=tenant_id, endpoint="sendMessage",
                                               status=Delivery.Status.REFUSED).exists())
    # then: the worker's warning about the refused call names the request that caused it
    wait_until(lambda: any("refused" in line for line in trace_handler))
    assert [line for line in trace_handler if "refused" in line][0].startswith("[crm-trace-dead] delivery ")


@pytest.mark.integration
def test_a_delivery_resent_by_the_sweeper_keeps_the_id_of_its_api_call(
        transactional_db, celery_worker, fast, fake_provider, crm_client):
    # given: a delivery written with a request id whose task got lost (the provider was down)
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider, "chat-1")
    fake_provider.wait_for(lambda: fake_provider.accepted_list("getChannels"))
    tc = TenantConfiguration.objects.get(tenant_id=tenant_id, provider=provider)
    DeliveryFactory(tenant_configuration=tc, endpoint="markChatRead", url=fake_provider.endpoints()["markChatRead"],
                    payload={"chatId": "chat-1"}, next_attempt_at=timezone.now() - timedelta(minutes=5),
                    request_id="crm-trace-swept")
    # when: the beat sweeper (no request of its own) re-dispatches it
    with request_id_scope("beat-sweep-1"):
        assert deliveries_sweep() >= 1
    fake_provider.wait_for(lambda: fake_provider.accepted_list("markChatRead"))
    # then: the provider sees the id of the original API call, not the sweeper's
    assert fake_provider.accepted_list("markChatRead")[0].headers["x-request-id"] == "crm-trace-swept"


# --- admin -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_admin_delivery_page_shows_the_request_id_and_finds_the_delivery_by_it(admin_client):
    from config.tests.world import world_create

    delivery = world_create()["delivery"]
    other = world_create()["delivery"]
    Delivery.objects.filter(pk=delivery.pk).update(request_id="crm-admin-trace-7")
    page = admin_client.get(f"/admin/communications/delivery/{delivery.pk}/change/").content.decode()
    assert "crm-admin-trace-7" in page and "Id запроса (X-Request-Id)" in page
    found = admin_client.get("/admin/communications/delivery/", {"q": "crm-admin-trace-7"}).context["cl"].result_list
    assert [d.pk for d in found] == [delivery.pk] and other.pk != delivery.pk


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
def test_with_log_format_json_a_real_process_writes_json_lines_with_the_request_id():
    import subprocess

    from config.tests.observability.helpers import PYTHON, ROOT, child_env

    script = ("import django; django.setup(); from django.test import Client; "
              "Client(HTTP_HOST='localhost').get('/no/such/page', HTTP_X_REQUEST_ID='json-trace-1')")
    result = subprocess.run([PYTHON, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=child_env(DJANGO_SETTINGS_MODULE="config.settings", LOG_FORMAT="json"))
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and not_found[0]["request_id"] == "json-trace-1" and "Not Found" in not_found[0]["message"]


@pytest.mark.django_db
def test_every_call_of_the_http_client_carries_the_current_or_a_fresh_request_id(fake_provider, settings):
    from communications import clients

    settings.PROVIDER_ALLOW_LOOPBACK = True
    url = fake_provider.endpoints()["markChatRead"]
    with request_id_scope("client-trace-1"):
        clients.post_json(url=url, payload={}, idempotency_key="k-1")
    clients.post_json(url=url, payload={}, idempotency_key="k-2")  # outside any request
    first, second = (r.headers["x-request-id"] for r in fake_provider.requests)
    assert first == "client-trace-1" and len(second) == 32 and second != first
