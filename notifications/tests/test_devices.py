"""Issue 18: a token change deactivates the old device; DELETE unsubscribes a device."""

import pytest

from notifications.models import Device, DeviceHistory
from notifications.tests.factories import recipient_client

UNSUBSCRIBED = {"status": "success", "message": "Successfully unsubscribed from notifications."}
DEVICE_NOT_FOUND = "Device not found."


@pytest.fixture
def unsubscribe(notifications_service_client):
    def delete(body, *, client=None, path="/notifications/subscribe"):
        return (client or notifications_service_client).delete(path, body, format="json")

    return delete


def test_new_token_deactivates_the_old_one_and_records_old_to_new(make_recipient, notifications_service_client):
    # given a device registered with its first token
    recipient = make_recipient("user")
    body = {"user_id": str(recipient.pk), "device_id": "token-1"}
    assert notifications_service_client.post("/notifications/subscribe", body, format="json").status_code == 200
    # when the app reports the new token for the same device
    response = notifications_service_client.post(
        "/notifications/subscribe", {**body, "device_id": "token-2", "previous_device_id": "token-1"}, format="json")
    # then the old token is kept for audit but inactive, the new one active, and the change is logged
    assert response.status_code == 200
    old, new = Device.objects.get(device_id="token-1"), Device.objects.get(device_id="token-2")
    assert (old.is_active, new.is_active) == (False, True)
    assert old.deactivated_reason
    assert list(DeviceHistory.objects.filter(recipient=recipient).order_by("id")
                .values_list("old_device_id", "new_device_id")) == [("", "token-1"), ("token-1", "token-2")]


@pytest.mark.parametrize("as_user", [False, True])
def test_delete_deactivates_the_device_and_is_logged(make_recipient, unsubscribe, as_user):
    recipient = make_recipient("user", devices=2)
    first, second = recipient.devices.order_by("id")
    response = unsubscribe({"user_id": str(recipient.pk), "device_id": first.device_id},
                           client=recipient_client(recipient) if as_user else None)
    assert response.status_code == 200 and response.json() == UNSUBSCRIBED
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    history = DeviceHistory.objects.get(recipient=recipient)
    assert (history.old_device_id, history.new_device_id) == (first.device_id, "")


def test_delete_is_idempotent_without_a_second_log_row(make_recipient, unsubscribe):
    recipient = make_recipient("user", devices=1)
    body = {"user_id": str(recipient.pk), "device_id": recipient.devices.get().device_id}
    assert unsubscribe(body).status_code == 200
    assert unsubscribe(body).status_code == 200
    assert DeviceHistory.objects.filter(recipient=recipient).count() == 1


def test_delete_accepts_query_parameters(make_recipient, notifications_service_client):
    recipient = make_recipient("user", devices=1)
    device = recipient.devices.get()
    response = notifications_service_client.delete(
        f"/notifications/subscribe/?user_id={recipient.pk}&device_id={device.device_id}")
    assert response.status_code == 200
    device.refresh_from_db()
    assert not device.is_active


def test_device_of_another_user_is_404_and_untouched(make_recipient, unsubscribe):
    alice, bob = make_recipient("user", devices=1), make_recipient("user")
    device = alice.devices.get()
    response = unsubscribe({"user_id": str(bob.pk), "device_id": device.device_id})
    assert response.status_code == 404
    assert response.json()["status"] == "error" and response.json()["message"] == DEVICE_NOT_FOUND
    assert "device_id" in response.json()["errors"]
    device.refresh_from_db()
    assert device.is_active and not DeviceHistory.objects.exists()


def test_user_token_cannot_unsubscribe_someone_else(make_recipient, unsubscribe):
    alice, bob = make_recipient("user"), make_recipient("user", devices=1)
    device = bob.devices.get()
    response = unsubscribe({"user_id": str(bob.pk), "device_id": device.device_id}, client=recipient_client(alice))
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.is_active


@pytest.mark.parametrize("body,field", [
    ({"user_id": None}, "user_id"),
    ({"user_id": 5}, "user_id"),
    ({"device_id": "  "}, "device_id"),
    ({"device_id": 7}, "device_id"),
])
def test_bad_delete_is_400(make_recipient, unsubscribe, body, field):
    recipient = make_recipient("user", devices=1)
    response = unsubscribe({"user_id": str(recipient.pk), "device_id": recipient.devices.get().device_id, **body})
    assert response.status_code == 400 and field in response.json()["errors"]
    assert response.json()["message"] == "Invalid request format or parameters."


def test_delete_needs_authentication(api_client, make_recipient):
    recipient = make_recipient("user", devices=1)
    body = {"user_id": str(recipient.pk), "device_id": recipient.devices.get().device_id}
    assert api_client.delete("/notifications/subscribe", body, format="json").status_code == 401
