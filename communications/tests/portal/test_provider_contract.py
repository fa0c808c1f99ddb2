"""What the portal documents for each provider endpoint and webhook event is what the real services send,
and the responses it documents are what the real services understand."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from communications.endpoints import endpoint_list, example_requests, example_responses
from communications.models import Channel, Message, Webhook
from communications.portal import content
from communications.services import operator
from communications.services.conversations import webhook_set
from communications.services.tokens import integration_token_deactivate
from communications.tests.factories import chat_make, provider_setup, shape, tenant_install
from config.testing.fake_provider import ENDPOINTS, FakeProvider, Reaction

DOCS = Path(settings.BASE_DIR) / "docs"


@pytest.fixture
def real_traffic(db, settings, django_capture_on_commit_callbacks):
    """A whole integration life driven eagerly against a fake provider that answers the documented examples."""
    settings.PROVIDER_ALLOW_LOOPBACK = True
    with FakeProvider() as fake:
        fake.channels = example_responses()["getChannels"]["channels"]
        fake.history = example_responses()["getMessageHistory"]["messages"]
        for endpoint in ("sendMessage", "bulkMessages"):
            fake.on(endpoint, Reaction(body=example_responses()[endpoint]))
        provider = provider_setup(fake)
        with django_capture_on_commit_callbacks(execute=True):  # activation: getChannels, setWebhook, getMessageHistory
            tenant_id, token = tenant_install(provider)
        webhook_set(tenant_id=tenant_id, provider=provider, url=f"{fake.url}/hooks", events=list(Webhook.Event))
        chat_make(tenant_id, provider, "chat-1002", channel_id="tg-bot-1")
        scope = {"tenant_id": tenant_id, "provider": provider}
        with django_capture_on_commit_callbacks(execute=True):
            sent = operator.operator_message_send(**scope, chat_id="chat-1001", text="Привет", operator_id="op-1")
        with django_capture_on_commit_callbacks(execute=True):
            operator.operator_message_edit(**scope, message_id=sent.pk, text="Привет!")
            operator.operator_message_set_status(**scope, message_id=sent.pk, status="failed", error="blocked")
            operator.operator_chat_mark_read(**scope, chat_id="chat-1001")
            operator.operator_broadcast(**scope, chat_ids=["chat-1001", "chat-1002"], text="Рассылка")
        with django_capture_on_commit_callbacks(execute=True):
            integration_token_deactivate(token=token)
        yield fake, tenant_id, sent


def test_portal_documents_the_request_each_endpoint_really_gets(real_traffic):
    # given: every endpoint was called by the real services
    fake, _, _ = real_traffic
    sent = {endpoint: fake.accepted_list(endpoint) for endpoint in ENDPOINTS}
    assert all(sent.values()), [endpoint for endpoint, calls in sent.items() if not calls]
    # then: the portal documents exactly those fields, nested the same way
    for documented in endpoint_list():
        for call in sent[documented.name]:
            assert shape(call.json) == shape(documented.example_request), documented.name
    assert sent["setWebhook"][0].json["events"] == example_requests()["setWebhook"]["events"]
    assert sent["disconnect"][0].json["reason"] == "token_deactivated"


def test_documented_responses_drive_the_real_services(real_traffic):
    # given: the fake answered with the portal's examples
    _, tenant_id, sent = real_traffic
    # then: getChannels made the channel, the history was imported, the message ids were taken over
    assert Channel.objects.filter(tenant_id=tenant_id, external_id="tg-bot-1", code="telegram").exists()
    assert Message.objects.filter(tenant_id=tenant_id, external_id="msg-4001", chat__external_id="chat-1001").exists()
    sent.refresh_from_db()
    assert sent.external_id == example_responses()["sendMessage"]["messageId"]
    bulk_ids = {result["messageId"] for result in example_responses()["bulkMessages"]["results"]}
    assert set(Message.objects.filter(tenant_id=tenant_id, text="Рассылка").values_list("external_id", flat=True)) \
        == bulk_ids


def test_portal_documents_the_body_of_each_webhook_event(real_traffic, client):
    # given: the provider's webhook got every event
    fake, _, _ = real_traffic
    received = {}
    for request in fake.accepted_list():
        if request.endpoint == "hooks":
            received.setdefault(request.json["type"], request.json)
    documented = {event["code"]: event["example"] for event in content.webhook_events()}
    # then: each documented body has the real envelope and data fields, and the page shows it
    assert set(received) == set(documented) == set(Webhook.Event)
    for event, body in received.items():
        assert shape(body) == shape(documented[event]), event
    assert received["message.created"]["data"]["messageId"] is None
    assert received["message.created"]["data"]["clientMessageId"].startswith("crm-")
    page = client.get("/developers/reference/webhooks/").content.decode()
    for event in documented:
        assert f'id="payload-{event}"' in page


def _markdown_row(path: Path, endpoint: str) -> str:
    return next(line for line in path.read_text(encoding="utf-8").splitlines()
                if line.startswith(f"| `{endpoint}` "))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_provider_calls_doc_lists_the_fields_of_each_request(endpoint):
    # the "body we send" column of docs/provider-calls.md: `{tenantId, chatId, ...}`
    row = _markdown_row(DOCS / "provider-calls.md", endpoint)
    body = row.split("|")[3]
    fields = {part.split(":")[0].strip() for part in body[body.index("{") + 1:body.index("}")].split(",")}
    assert fields == set(example_requests()[endpoint])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_test_stand_doc_lists_the_fields_of_each_request(endpoint):
    # the request table of docs/test-stand.md: `{"tenantId", "chatId": CHAT, ...}`
    row = _markdown_row(DOCS / "test-stand.md", endpoint)
    assert set(re.findall(r'(?<!: )"(\w+)"', row.split("|")[2])) == set(example_requests()[endpoint])


def test_documented_history_items_are_valid_public_api_messages():
    from communications.api.public.serializers import PublicMessageCreateSerializer

    for item in example_responses()["getMessageHistory"]["messages"]:
        serializer = PublicMessageCreateSerializer(data=item)
        assert serializer.is_valid(), serializer.errors
