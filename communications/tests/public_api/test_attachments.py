"""Attachments and replies on POST /messages, bulk and history items (issue 21, slice 1)."""

import pytest

from communications.models import Attachment, Message
from communications.services import attachments as attachment_services
from communications.tests.factories import message_payload

pytestmark = pytest.mark.django_db

PHOTO = {"type": "image", "url": "https://cdn.provider.example/p/1.jpg", "name": "photo.jpg",
         "mimeType": "image/jpeg", "size": 2048}
LOCATION = {"type": "location", "location": {"latitude": 55.75, "longitude": 37.62, "title": "Москва"}}
CONTACT = {"type": "contact", "contact": {"name": "Иван", "phone": "+79990000000"}}


def test_message_with_attachments_and_empty_text_is_stored(api, integration):
    response = api.post("/api/v1/messages", message_payload(text="", attachments=[PHOTO, LOCATION, CONTACT]),
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["text"] == ""
    assert [a["type"] for a in body["attachments"]] == ["image", "location", "contact"]
    photo, location, contact = body["attachments"]
    assert photo["status"] == "pending" and photo["name"] == "photo.jpg" and photo["size"] == 2048
    assert location["status"] == "stored" and location["location"] == {"latitude": 55.75, "longitude": 37.62,
                                                                        "title": "Москва"}
    assert contact["contact"] == {"name": "Иван", "phone": "+79990000000"} and contact["location"] is None
    rows = list(Attachment.objects.order_by("position"))
    assert [r.tenant_id for r in rows] == [integration.tenant_id] * 3
    assert rows[0].source_url == PHOTO["url"]


def test_text_may_be_omitted_with_attachments_but_not_without(api):
    payload = message_payload(attachments=[CONTACT])
    del payload["text"]
    assert api.post("/api/v1/messages", payload, format="json").status_code == 201
    bare = message_payload("m-2", text="")
    response = api.post("/api/v1/messages", bare, format="json")
    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]
    assert Message.objects.count() == 1


@pytest.mark.parametrize("attachment, field", [
    ({"type": "image"}, "url"),
    ({"type": "image", "url": "https://x.example/a", "uploadId": "4f4b6c1e-4b7e-4f7a-9d1e-0d5c7b1a2b3c"}, "url"),
    ({"type": "image", "url": "ftp://x.example/a"}, "url"),
    ({"type": "gif", "url": "https://x.example/a"}, "type"),
    ({"type": "location"}, "location"),
    ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "location"),
    ({"type": "contact", "contact": {"phone": "1"}}, "contact"),
    ({"type": "contact", "contact": {"name": "a"}, "url": "https://x.example/a"}, "url"),
    ({"type": "file", "url": "https://x.example/a", "mimeType": "not a mime"}, "mimeType"),
    ({"type": "file", "url": "https://x.example/a", "size": -1}, "size"),
    ({"type": "file", "url": "https://x.example/a", "extra": 1}, "extra"),
])
def test_bad_attachment_is_400_naming_the_field(api, attachment, field):
    response = api.post("/api/v1/messages", message_payload(attachments=[attachment]), format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]["attachments"]
    assert field in fields["0"], fields
    assert Message.objects.count() == 0


def test_more_than_ten_attachments_is_400(api):
    response = api.post("/api/v1/messages", message_payload(attachments=[CONTACT] * 11), format="json")
    assert response.status_code == 400 and "attachments" in response.json()["error"]["fields"]
    assert api.post("/api/v1/messages", message_payload(attachments=[CONTACT] * 10),
                    format="json").status_code == 201


def test_unknown_upload_id_is_400_and_nothing_is_stored(api):
    attachment = {"type": "file", "uploadId": "4f4b6c1e-4b7e-4f7a-9d1e-0d5c7b1a2b3c"}
    response = api.post("/api/v1/messages", message_payload(attachments=[attachment]), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"attachments": {"0": {"uploadId": [
        "Загрузка не найдена, уже использована или срок её действия истёк."]}}}
    assert Message.objects.count() == 0


def test_attachments_and_reply_are_part_of_the_repeat_fingerprint(api):
    first = api.post("/api/v1/messages", message_payload(attachments=[PHOTO], replyTo="m-0"), format="json")
    assert first.status_code == 201
    same = api.post("/api/v1/messages", message_payload(attachments=[PHOTO], replyTo="m-0"), format="json")
    assert same.status_code == 200 and same.json() == first.json()
    other = api.post("/api/v1/messages", message_payload(attachments=[{**PHOTO, "name": "x.jpg"}],
                                                         replyTo="m-0"), format="json")
    assert other.status_code == 409 and other.json()["error"]["code"] == "id_conflict"
    other_reply = api.post("/api/v1/messages", message_payload(attachments=[PHOTO], replyTo="m-9"), format="json")
    assert other_reply.status_code == 409
    assert Attachment.objects.count() == 1


def test_empty_attachments_and_reply_keep_the_old_fingerprint(api):
    assert api.post("/api/v1/messages", message_payload(), format="json").status_code == 201
    again = api.post("/api/v1/messages", message_payload(attachments=[], replyTo=""), format="json")
    assert again.status_code == 200


def test_reply_to_known_message_is_resolved(api):
    api.post("/api/v1/messages", message_payload("m-1"), format="json")
    response = api.post("/api/v1/messages", message_payload("m-2", replyTo="m-1"), format="json")
    assert response.status_code == 201
    assert response.json()["replyTo"] == "m-1" and response.json()["replyToResolved"] is True
    assert Message.objects.get(external_id="m-2").reply_to == Message.objects.get(external_id="m-1")


def test_reply_to_unknown_message_is_kept_unresolved_then_resolved_when_it_arrives(api):
    response = api.post("/api/v1/messages", message_payload("m-2", replyTo="m-1"), format="json")
    assert response.status_code == 201
    assert response.json()["replyTo"] == "m-1" and response.json()["replyToResolved"] is False
    api.post("/api/v1/messages", message_payload("m-1"), format="json")
    assert Message.objects.get(external_id="m-2").reply_to == Message.objects.get(external_id="m-1")


def test_linking_replies_writes_only_the_replies_it_links(api, integration):
    """A reply whose quote is still unknown is not rewritten (its link stays NULL, no row version per call)."""
    api.post("/api/v1/messages", message_payload("m-2", replyTo="m-1"), format="json")
    api.post("/api/v1/messages", message_payload("m-3", replyTo="m-9"), format="json")
    scope = {"tenant_id": integration.tenant_id, "provider": integration.provider}
    assert attachment_services.replies_resolve(**scope, external_ids=["m-2", "m-3"]) == 0
    api.post("/api/v1/messages", message_payload("m-1"), format="json")  # links m-2 itself
    Message.objects.filter(external_id="m-2").update(reply_to=None)
    assert attachment_services.replies_resolve(**scope, external_ids=["m-1", "m-3"]) == 1
    assert Message.objects.get(external_id="m-2").reply_to == Message.objects.get(external_id="m-1")


def test_a_message_quoting_itself_is_linked_to_itself_as_before(api):
    """The one-statement insert can't see its own row: such a message takes the general path (issue 19)."""
    api.post("/api/v1/messages", message_payload("m-1"), format="json")  # the chat is known
    response = api.post("/api/v1/messages", message_payload("m-2", replyTo="m-2"), format="json")
    assert response.status_code == 201 and response.json()["replyToResolved"] is True
    message = Message.objects.get(external_id="m-2")
    assert message.reply_to_id == message.pk


def test_reply_to_another_tenants_message_stays_unresolved(api, integration, other_tenant):
    other_tenant.client.post("/api/v1/messages", message_payload("m-1"), format="json")
    response = api.post("/api/v1/messages", message_payload("m-2", replyTo="m-1"), format="json")
    assert response.json()["replyToResolved"] is False
    assert Message.objects.get(tenant_id=integration.tenant_id, external_id="m-2").reply_to is None


def test_message_without_reply_has_null_reply_to(api):
    body = api.post("/api/v1/messages", message_payload(), format="json").json()
    assert body["replyTo"] is None and body["replyToResolved"] is False and body["attachments"] == []


def test_bulk_items_carry_attachments_and_replies_within_the_batch(api):
    response = api.post("/api/v1/bulk/messages", {"messages": [
        message_payload("m-2", text="", replyTo="m-1", attachments=[PHOTO, CONTACT]),
        message_payload("m-1"),
        message_payload("m-3", text="", attachments=[{"type": "image"}]),
        message_payload("m-4", text=""),
    ]}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["created", "created", "error", "error"]
    assert "url" in results[2]["errors"]["attachments"]["0"] and "text" in results[3]["errors"]
    reply = Message.objects.get(external_id="m-2")
    assert reply.reply_to == Message.objects.get(external_id="m-1")
    assert list(reply.attachments.values_list("type", flat=True)) == ["image", "contact"]
    again = api.post("/api/v1/bulk/messages", {"messages": [
        message_payload("m-2", text="", replyTo="m-1", attachments=[PHOTO, CONTACT]),
        message_payload("m-2", text="", replyTo="m-1", attachments=[PHOTO]),
    ]}, format="json").json()
    assert [r["result"] for r in again["results"]] == ["duplicate", "error"]
    assert Attachment.objects.count() == 2
