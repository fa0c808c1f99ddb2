"""Issue 16 item 9: every timestamp in every API, webhook and provider call is UTC with `Z`."""

import re

import pytest

from communications import provider_contract as contract
from communications.endpoints import example_responses
from communications.models import Message
from communications.services.webhook_events import message_data
from communications.tests.factories import message_payload

pytestmark = pytest.mark.django_db
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _timestamps(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _timestamps(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _timestamps(item, key)
    elif isinstance(value, str) and (key.endswith("At") or key in ("timestamp",)) and value:
        yield key, value


def test_public_api_answers_in_utc_with_z(api):
    body = api.post("/api/v1/messages", message_payload("m-1", sentAt="2026-11-20T13:15:00+03:00"),
                    format="json").json()
    stamps = dict(_timestamps(body))
    assert stamps["sentAt"] == "2026-11-20T10:15:00Z"
    assert all(UTC_Z.match(value) for value in stamps.values()), stamps
    channel = api.post("/api/v1/channels", {"id": "tg", "code": "telegram"}, format="json").json()
    assert UTC_Z.match(channel["connectedAt"])


def test_webhook_bodies_and_examples_use_utc_with_z(api):
    api.post("/api/v1/messages", message_payload("m-1"), format="json")
    message = Message.objects.get()
    message.edited_at = message.created_at
    data = message_data(message, message_id="m-1", client_message_id=None)
    assert UTC_Z.match(data["createdAt"]) and UTC_Z.match(data["editedAt"])
    assert UTC_Z.match(contract.utc_timestamp())
    for example in contract.WEBHOOK_EVENT_EXAMPLES.values():
        for key, value in _timestamps(example):
            assert UTC_Z.match(value), (key, value)
    for example in example_responses().values():
        for key, value in _timestamps(example):
            assert UTC_Z.match(value), (key, value)


def test_internal_api_answers_in_utc_with_z(db):
    from marketplace.tests.factories import developer_client

    client = developer_client("dev-utc", "UTC LLC")
    body = client.post("/internal/v1/marketplace/apps", {"code": "utc-app", "name": "UTC"}, format="json").json()
    assert UTC_Z.match(body["createdAt"]), body
