"""Operator → provider: attachments as signed URLs, replyTo, the capabilities block (issue 21, slice 4)."""

import hashlib
import io

import pytest
from rest_framework.test import APIClient

from communications.models import Attachment, Delivery, Message, ProviderConfiguration
from communications.provider_contract import EXAMPLE_REQUESTS_WITH_ATTACHMENTS
from communications.services.conversations import message_create
from communications.services.providers import configuration_validate
from communications.tests.factories import PDF
from config.errors import ApplicationError
from delivery.engine import delivery_send

BASE = "/internal/v1/operator"


def scope(provider, tenant_id):
    return {"tenantId": str(tenant_id), "providerCode": provider.code}


def _capable(provider, **caps):
    ProviderConfiguration.objects.filter(provider=provider).update(capabilities={"attachments": True, **caps})


def _upload(crm_client, provider, tenant_id, data=PDF, name="счёт.pdf"):
    f = io.BytesIO(data)
    f.name = name
    response = crm_client.post(f"{BASE}/uploads", {**scope(provider, tenant_id), "file": f}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def _send(crm_client, provider, tenant_id, **body):
    return crm_client.post(f"{BASE}/chats/chat-1/messages", {**scope(provider, tenant_id), **body}, format="json")


@pytest.mark.django_db
def test_provider_receives_a_signed_url_and_fetching_it_gives_the_same_bytes(setup, fast, crm_client, media,
                                                                            fake_provider):
    provider, tenant_id, _ = setup
    _capable(provider)
    quoted, _ = message_create(tenant_id=tenant_id, provider=provider,
                               data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "что?"})
    upload = _upload(crm_client, provider, tenant_id)
    response = _send(crm_client, provider, tenant_id, text="Счёт во вложении", replyTo=quoted.pk,
                     attachments=[{"type": "file", "uploadId": upload["uploadId"]},
                                  {"type": "location", "location": {"latitude": 55.7, "longitude": 37.6}}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["replyTo"] == quoted.pk and body["replyToExternalId"] == "in-1"
    assert [a["status"] for a in body["attachments"]] == ["stored", "stored"]
    delivery = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage")
    delivery_send(delivery_id=delivery.pk)
    [call] = fake_provider.accepted_list("sendMessage")
    sent = call.json
    assert sent["replyTo"] == "in-1" and sent["text"] == "Счёт во вложении"
    file_item, location = sent["attachments"]
    assert location == {"type": "location", "location": {"latitude": 55.7, "longitude": 37.6, "title": ""}}
    assert file_item["type"] == "file" and file_item["name"] == "счёт.pdf" and file_item["size"] == len(PDF)
    assert file_item["mimeType"] == "application/pdf" and file_item["checksum"] == hashlib.sha256(PDF).hexdigest()
    example = EXAMPLE_REQUESTS_WITH_ATTACHMENTS["sendMessage"]  # the documented shape is the real one
    assert set(sent) == set(example) and set(file_item) == set(example["attachments"][0])
    download = APIClient().get("/" + file_item["url"].split("://", 1)[1].split("/", 1)[1])
    content = b"".join(download.streaming_content)
    assert content == PDF and hashlib.sha256(content).hexdigest() == file_item["checksum"]


@pytest.mark.django_db
def test_provider_without_the_capability_gets_text_only_and_the_operator_an_error(setup, crm_client, media):
    provider, tenant_id, _ = setup
    upload = _upload(crm_client, provider, tenant_id)
    response = _send(crm_client, provider, tenant_id, text="Счёт",
                     attachments=[{"type": "file", "uploadId": upload["uploadId"]}])
    assert response.status_code == 201, response.content
    [attachment] = response.json()["attachments"]
    assert attachment["status"] == "failed"
    assert attachment["error"] == "Провайдер не поддерживает это вложение; отправлен только текст."
    payload = Delivery.objects.get(tenant_id=tenant_id, endpoint="sendMessage").payload
    assert "attachments" not in payload and payload["text"] == "Счёт"
    # attachments only: nothing to send at all → 409, nothing stored
    other = _upload(crm_client, provider, tenant_id)
    only = _send(crm_client, provider, tenant_id, attachments=[{"type": "file", "uploadId": other["uploadId"]}])
    assert only.status_code == 409 and only.json()["error"]["code"] == "attachments_not_supported"
    assert Message.objects.filter(tenant_id=tenant_id).count() == 1


@pytest.mark.django_db
def test_capability_limits_by_type(setup, crm_client, media):
    provider, tenant_id, _ = setup
    _capable(provider, attachmentTypes=["image"])
    upload = _upload(crm_client, provider, tenant_id)
    response = _send(crm_client, provider, tenant_id, text="x",
                     attachments=[{"type": "file", "uploadId": upload["uploadId"]}])
    assert response.json()["attachments"][0]["status"] == "failed"


@pytest.mark.django_db
def test_operator_bad_input(setup, crm_client, media):
    provider, tenant_id, _ = setup
    _capable(provider)
    by_url = _send(crm_client, provider, tenant_id, attachments=[{"type": "file", "url": "https://x.example/a"}])
    assert by_url.status_code == 400 and "url" in by_url.json()["error"]["fields"]["attachments"]["0"]
    empty = _send(crm_client, provider, tenant_id, text="")
    assert empty.status_code == 400 and "text" in empty.json()["error"]["fields"]
    other_chat, _ = message_create(tenant_id=tenant_id, provider=provider,
                                   data={"external_id": "in-2", "chat": {"external_id": "chat-2"}, "text": "a"})
    wrong_reply = _send(crm_client, provider, tenant_id, text="x", replyTo=other_chat.pk)
    assert wrong_reply.status_code == 404 and "replyTo" in wrong_reply.json()["error"]["fields"]
    assert not Message.objects.filter(tenant_id=tenant_id, direction="outgoing").exists()
    assert not Attachment.objects.exists()


def test_capabilities_block_is_optional_and_validated():
    base = {"configurationVersion": "1.0.0", "providerLabel": "P",
            "endpoints": {"sendMessage": "https://p.example/send"},
            "auth": {"type": "API_KEY", "headerName": "X-API-Key", "key": "0123456789"}}
    try:
        cleaned = configuration_validate(data=base)
    except ApplicationError as exc:  # other required endpoints: only the capabilities errors matter here
        assert not [k for k in exc.fields if k.startswith("capabilities")]
    else:
        assert cleaned["capabilities"] == {}
    with pytest.raises(ApplicationError) as bad:
        configuration_validate(data={**base, "capabilities": {
            "attachments": "yes", "attachmentTypes": ["gif"], "maxAttachmentBytes": -1, "stickers": True}})
    fields = bad.value.fields
    assert {"capabilities.attachments", "capabilities.attachmentTypes", "capabilities.maxAttachmentBytes",
            "capabilities.stickers"} <= set(fields)


@pytest.mark.django_db
def test_message_created_webhook_event_carries_attachments_and_reply(setup, crm_client, media):
    from communications.models import Webhook

    provider, tenant_id, _ = setup
    _capable(provider)
    Webhook.objects.create(tenant_id=tenant_id, provider=provider, url="https://p.example/hook", secret="whsec_x",
                           events=["message.created"])
    quoted, _ = message_create(tenant_id=tenant_id, provider=provider,
                               data={"external_id": "in-1", "chat": {"external_id": "chat-1"}, "text": "что?"})
    upload = _upload(crm_client, provider, tenant_id)
    _send(crm_client, provider, tenant_id, replyTo=quoted.pk,
          attachments=[{"type": "file", "uploadId": upload["uploadId"]}])
    event = Delivery.objects.get(tenant_id=tenant_id, kind="webhook").payload["data"]
    assert event["replyTo"] == "in-1"
    [item] = event["attachments"]
    assert item["checksum"] == hashlib.sha256(PDF).hexdigest() and "/api/v1/files/" in item["url"]
