import pytest

from communications.models import Webhook
from communications.tests.factories import assert_refused

pytestmark = pytest.mark.django_db

HOOK = {"url": "https://provider.example/hook", "events": ["message.created", "chat.seen"]}


def test_set_webhook_shows_secret_once(api, integration):
    # when
    response = api.post("/api/v1/webhooks", HOOK, format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"] == HOOK["url"] and body["events"] == HOOK["events"]
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    webhook = Webhook.objects.get()
    assert webhook.tenant_id == integration.tenant_id and webhook.secret == body["secret"]
    # GET never shows it again
    got = api.get("/api/v1/webhooks")
    assert got.status_code == 200 and "secret" not in got.json() and got.json()["url"] == HOOK["url"]


def test_setting_again_updates_and_keeps_secret_unless_rotated(api):
    secret = api.post("/api/v1/webhooks", HOOK, format="json").json()["secret"]
    # when updated
    response = api.post("/api/v1/webhooks", {"url": "https://provider.example/v2", "events": ["chat.seen"]},
                        format="json")
    # then
    assert response.status_code == 200 and "secret" not in response.json()
    assert Webhook.objects.count() == 1 and Webhook.objects.get().secret == secret
    assert Webhook.objects.get().url == "https://provider.example/v2"
    # when rotated
    rotated = api.post("/api/v1/webhooks", {**HOOK, "rotateSecret": True}, format="json").json()["secret"]
    assert rotated != secret and Webhook.objects.get().secret == rotated


def test_delete_webhook(api):
    api.post("/api/v1/webhooks", HOOK, format="json")
    assert api.delete("/api/v1/webhooks").status_code == 204
    assert not Webhook.objects.exists()
    assert api.get("/api/v1/webhooks").status_code == 404
    assert api.delete("/api/v1/webhooks").status_code == 404


@pytest.mark.parametrize("payload, field", [
    ({"events": ["chat.seen"]}, "url"),
    ({"url": "ftp://x.example/a", "events": ["chat.seen"]}, "url"),
    ({"url": "not a url", "events": ["chat.seen"]}, "url"),
    ({"url": "https://x.example/" + "a" * 2000, "events": ["chat.seen"]}, "url"),
    ({"url": "https://x.example"}, "events"),
    ({"url": "https://x.example", "events": []}, "events"),
    ({"url": "https://x.example", "events": ["message.exploded"]}, "events"),
    ({"url": "https://x.example", "events": ["chat.seen", "chat.seen"]}, "events"),
    ({"url": "https://x.example", "events": ["chat.seen"], "secret": "mine"}, "secret"),
])
def test_webhook_validation_errors(api, payload, field):
    response = api.post("/api/v1/webhooks", payload, format="json")
    assert_refused(response, field)
    assert not Webhook.objects.exists()
