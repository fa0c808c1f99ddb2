"""Another tenant's or provider's ids answer 404, exactly like unknown ids, and nothing changes."""

import pytest

from communications import models as m
from communications.tests.factories import chat_payload, message_payload

pytestmark = pytest.mark.django_db

ID_ROUTES = [
    ("delete", "/api/v1/channels/ch-1", None),
    ("patch", "/api/v1/chats/c-1", {"title": "взлом"}),
    ("post", "/api/v1/chats/c-1/seen", None),
    ("patch", "/api/v1/messages/m-1", {"text": "взлом"}),
    ("post", "/api/v1/messages/m-1/status", {"status": "read"}),
    ("get", "/api/v1/webhooks", None),
    ("delete", "/api/v1/webhooks", None),
]


# every row a provider's call could change, with the fields that would change
SNAPSHOT = (
    (m.Account, ("id", "is_active", "parent_id")),
    (m.Channel, ("id", "tenant_id", "provider_id", "name")),
    (m.Chat, ("id", "tenant_id", "provider_id", "title")),
    (m.Participant, ("id", "chat_id", "name")),
    (m.Message, ("id", "chat_id", "text", "seen_flag", "status")),
    (m.MessageEdit, ("id",)),
    (m.MessageStatusHistory, ("id",)),
    (m.Webhook, ("id", "url", "secret")),
)


def _snapshot():
    return [list(model.objects.order_by("id").values_list(*fields)) for model, fields in SNAPSHOT]


@pytest.fixture
def owner(integration):
    """The integration that owns ch-1, c-1, m-1 and a webhook."""
    client = integration.client
    assert client.post("/api/v1/channels", {"id": "ch-1", "code": "telegram"}, format="json").status_code == 201
    payload = message_payload("m-1", "c-1")
    payload["chat"]["channelId"] = "ch-1"
    assert client.post("/api/v1/messages", payload, format="json").status_code == 201
    assert client.post("/api/v1/webhooks", {"url": "https://owner.example/hook", "events": ["chat.seen"]},
                       format="json").status_code == 201
    return integration


@pytest.mark.parametrize("intruder_fixture", ["other_tenant", "other_provider"])
@pytest.mark.parametrize("method, url, payload", ID_ROUTES)
def test_foreign_ids_answer_404_and_change_nothing(request, owner, intruder_fixture, method, url, payload):
    # given
    intruder = request.getfixturevalue(intruder_fixture)
    before = _snapshot()
    # when
    response = getattr(intruder.client, method)(url, payload, format="json")
    # then
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert _snapshot() == before
    # and the owner still sees its objects
    assert owner.client.get("/api/v1/webhooks").json()["url"] == "https://owner.example/hook"


@pytest.mark.parametrize("intruder_fixture", ["other_tenant", "other_provider"])
def test_same_external_ids_create_separate_objects_in_own_scope(request, owner, intruder_fixture):
    # given
    intruder = request.getfixturevalue(intruder_fixture)
    # when: the intruder uses the owner's channel, chat and message ids
    assert intruder.client.post("/api/v1/channels", {"id": "ch-1", "code": "vk"}, format="json").status_code == 201
    assert intruder.client.post("/api/v1/messages", message_payload("m-1", "c-1", text="своё"),
                                format="json").status_code == 201
    assert intruder.client.post("/api/v1/chats", chat_payload("c-1"), format="json").status_code == 200
    bulk = intruder.client.post("/api/v1/bulk/messages", {"messages": [message_payload("m-1", "c-1", text="своё")]},
                                format="json").json()
    # then: the intruder's ids are its own; the owner's rows are untouched
    assert bulk["results"][0]["result"] == "duplicate"
    assert m.Channel.objects.filter(external_id="ch-1").count() == 2
    assert m.Chat.objects.filter(external_id="c-1").count() == 2
    owner_message = m.Message.objects.get(external_id="m-1", tenant_id=owner.tenant_id, provider=owner.provider)
    assert owner_message.text == "Привет"
    assert m.Channel.objects.get(tenant_id=owner.tenant_id, provider=owner.provider).code == "telegram"
    assert intruder.client.get("/api/v1/webhooks").status_code == 404
