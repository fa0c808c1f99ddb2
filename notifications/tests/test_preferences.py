"""Issue 18: GET/PUT /notifications/preferences with a user token, mandatory types, audit."""

import pytest

from notifications.models import NotificationPreference, PreferenceChange, QuietHours
from notifications.tests.factories import recipient_client

URL = "/notifications/preferences"


def entry(body, type, channel):
    return next(p for p in body["preferences"] if (p["type"], p["channel"]) == (type, channel))


def test_get_lists_every_type_of_the_role_and_channel_on_by_default(make_recipient):
    recipient = make_recipient("manager")
    response = recipient_client(recipient).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == str(recipient.pk) and body["quiet_hours"] is None
    assert {p["type"] for p in body["preferences"]} == {"notification", "critical", "deadline"}
    assert len(body["preferences"]) == 3 * 4 and all(p["enabled"] for p in body["preferences"])
    assert entry(body, "critical", "vk")["mandatory"] and not entry(body, "deadline", "vk")["mandatory"]


def test_put_mutes_a_channel_and_logs_the_change(make_recipient):
    recipient = make_recipient("manager")
    response = recipient_client(recipient).put(URL, {"preferences": [
        {"type": "deadline", "channel": "telegram", "enabled": False}]}, format="json")
    assert response.status_code == 200
    assert entry(response.json(), "deadline", "telegram")["enabled"] is False
    assert entry(response.json(), "deadline", "vk")["enabled"] is True
    change = PreferenceChange.objects.get(recipient=recipient)
    assert (change.setting, change.old_value, change.new_value, change.source) == (
        "deadline/telegram", "on", "off", "api")
    # the same value again changes nothing and logs nothing
    recipient_client(recipient).put(URL, {"preferences": [
        {"type": "deadline", "channel": "telegram", "enabled": False}]}, format="json")
    assert PreferenceChange.objects.filter(recipient=recipient).count() == 1


@pytest.mark.parametrize("type", ["error", "critical"])
def test_mandatory_type_cannot_be_muted(make_recipient, type):
    recipient = make_recipient("admin")
    response = recipient_client(recipient).put(URL, {"preferences": [
        {"type": "notification", "channel": "email", "enabled": False},
        {"type": type, "channel": "email", "enabled": False}]}, format="json")
    assert response.status_code == 400
    assert "type" in response.json()["error"]["fields"]
    # nothing half-written
    assert not NotificationPreference.objects.exists() and not PreferenceChange.objects.exists()


def test_type_not_available_to_the_role_is_400(make_recipient):
    recipient = make_recipient("user")
    response = recipient_client(recipient).put(URL, {"preferences": [
        {"type": "deadline", "channel": "email", "enabled": False}]}, format="json")
    assert response.status_code == 400 and "type" in response.json()["error"]["fields"]


@pytest.mark.parametrize("item,field", [
    ({"type": "notification", "channel": "email", "enabled": "false"}, "enabled"),
    ({"type": "notification", "channel": "fax", "enabled": False}, "channel"),
    ({"type": 1, "channel": "email", "enabled": False}, "type"),
])
def test_bad_preference_items_are_400_naming_the_field(make_recipient, item, field):
    recipient = make_recipient("user")
    response = recipient_client(recipient).put(URL, {"preferences": [item]}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]["preferences"]["0"]


def test_quiet_hours_set_change_remove_are_logged(make_recipient):
    recipient = make_recipient("user")
    client = recipient_client(recipient)
    quiet = {"start": "23:00", "end": "08:00", "timezone": "Europe/Moscow"}
    assert client.put(URL, {"quiet_hours": quiet}, format="json").json()["quiet_hours"] == quiet
    assert QuietHours.objects.get(recipient=recipient).timezone == "Europe/Moscow"
    assert client.put(URL, {"preferences": []}, format="json").json()["quiet_hours"] == quiet  # key absent: kept
    assert client.put(URL, {"quiet_hours": None}, format="json").json()["quiet_hours"] is None
    assert list(PreferenceChange.objects.filter(recipient=recipient).order_by("id")
                .values_list("setting", "old_value", "new_value")) == [
        ("quiet_hours", "", "23:00-08:00 Europe/Moscow"), ("quiet_hours", "23:00-08:00 Europe/Moscow", "")]


@pytest.mark.parametrize("quiet", [
    {"start": "23:00", "end": "08:00", "timezone": "Mars/Olympus"},
    {"start": "25:00", "end": "08:00", "timezone": "Europe/Moscow"},
    {"start": "08:00", "end": "08:00", "timezone": "Europe/Moscow"},
])
def test_bad_quiet_hours_are_400(make_recipient, quiet):
    recipient = make_recipient("user")
    response = recipient_client(recipient).put(URL, {"quiet_hours": quiet}, format="json")
    assert response.status_code == 400 and "quiet_hours" in response.json()["error"]["fields"]
    assert not QuietHours.objects.exists()


def test_preferences_need_a_user_token(make_recipient, api_client, notifications_service_client):
    make_recipient("user")
    assert api_client.get(URL).status_code == 401
    assert notifications_service_client.get(URL).status_code in (401, 403)


def test_a_user_sees_only_their_own_preferences(make_recipient):
    alice, bob = make_recipient("user"), make_recipient("user")
    recipient_client(bob).put(URL, {"preferences": [
        {"type": "notification", "channel": "vk", "enabled": False}]}, format="json")
    body = recipient_client(alice).get(URL).json()
    assert body["user_id"] == str(alice.pk) and entry(body, "notification", "vk")["enabled"] is True
