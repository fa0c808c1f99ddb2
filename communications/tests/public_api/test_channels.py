import pytest
from django.contrib.staticfiles import finders

from communications.channels import KNOWN_CHANNELS, STUB_ICON, channel_kind
from communications.models import Account, Channel
from communications.tests.factories import assert_refused

pytestmark = pytest.mark.django_db


def test_connect_channel_creates_child_account_under_main(api, integration):
    # when
    response = api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram", "name": "Бот"}, format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == "tg-1" and body["displayName"] == "Telegram" and body["known"] is True
    assert body["iconUrl"].endswith("communications/channels/telegram.svg") and body["active"] is True
    channel = Channel.objects.get(external_id="tg-1")
    main = Account.objects.get(tenant_id=integration.tenant_id, provider=integration.provider, kind="main")
    assert channel.account.kind == "child" and channel.account.parent == main and channel.account.is_active


def test_resending_channel_returns_existing_without_creating(api):
    api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram", "name": "Бот"}, format="json")
    response = api.post("/api/v1/channels", {"id": "tg-1", "code": "telegram", "name": "Бот"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Бот"
    assert Channel.objects.count() == 1 and Account.objects.filter(kind="child").count() == 1


def test_disconnect_deactivates_account_and_reconnect_reactivates(api):
    # given
    api.post("/api/v1/channels", {"id": "wa-1", "code": "whatsapp"}, format="json")
    # when
    response = api.delete("/api/v1/channels/wa-1")
    # then
    assert response.status_code == 204
    account = Channel.objects.get(external_id="wa-1").account
    assert not account.is_active and account.deactivated_at
    assert api.delete("/api/v1/channels/wa-1").status_code == 204  # idempotent
    # when reconnected
    response = api.post("/api/v1/channels", {"id": "wa-1", "code": "whatsapp"}, format="json")
    assert response.status_code == 200 and response.json()["active"] is True
    account.refresh_from_db()
    assert account.is_active and account.deactivated_at is None
    assert Account.objects.filter(kind="child").count() == 1


def test_unknown_channel_code_is_saved_as_sent_with_stub_icon(api):
    response = api.post("/api/v1/channels", {"id": "x-1", "code": "SuperMessenger"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["code"] == "SuperMessenger" and body["known"] is False and body["displayName"] == "SuperMessenger"
    assert body["iconUrl"].endswith(STUB_ICON)
    assert Channel.objects.get(external_id="x-1").code == "SuperMessenger"


def test_disconnect_unknown_channel_is_404(api):
    response = api.delete("/api/v1/channels/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("payload, field", [
    ({"code": "telegram"}, "id"),
    ({"id": "a"}, "code"),
    ({"id": "", "code": "telegram"}, "id"),
    ({"id": "a" * 256, "code": "telegram"}, "id"),
    ({"id": "a", "code": "c" * 65}, "code"),
    ({"id": "a", "code": "telegram", "metadata": [1]}, "metadata"),
    ({"id": "a", "code": "telegram", "colour": "red"}, "colour"),
])
def test_connect_validation_errors_name_the_field(api, payload, field):
    response = api.post("/api/v1/channels", payload, format="json")
    assert_refused(response, field)
    assert not Channel.objects.exists()


def test_trailing_slash_is_accepted_too(api):
    assert api.post("/api/v1/channels/", {"id": "a", "code": "vk"}, format="json").status_code == 201


def test_every_known_channel_and_the_stub_have_a_static_icon():
    for kind in KNOWN_CHANNELS.values():
        assert finders.find(kind.icon), kind.code
    assert finders.find(STUB_ICON)
    assert channel_kind("Telegram").code == "telegram"  # codes are matched case-insensitively
    assert channel_kind("zzz").icon == STUB_ICON


def test_developer_docs_list_every_known_channel_code():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "public-api.md").read_text()
    for kind in KNOWN_CHANNELS.values():
        assert f"| {kind.name} | `{kind.code}` |" in docs
