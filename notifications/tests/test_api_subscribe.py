import uuid

import pytest

from notifications.models import Device, DeviceHistory
from notifications.tests.factories import recipient_client as user_client

OK = {"status": "success", "message": "Successfully subscribed to notifications."}


@pytest.fixture
def subscribe(notifications_service_client):
    def post(body, *, client=None, path="/notifications/subscribe"):
        return (client or notifications_service_client).post(path, body, format="json")

    return post


@pytest.mark.parametrize("path", ["/notifications/subscribe", "/notifications/subscribe/"])
def test_subscribe_registers_device_and_writes_history(make_recipient, subscribe, path):
    recipient = make_recipient("user")
    response = subscribe({"user_id": str(recipient.pk), "device_id": "sub-a"}, path=path)
    assert response.status_code == 200 and response.json() == OK
    assert Device.objects.get(device_id="sub-a").recipient == recipient
    history = DeviceHistory.objects.get(recipient=recipient)
    assert (history.old_device_id, history.new_device_id) == ("", "sub-a") and history.timestamp


def test_same_device_same_user_is_idempotent(make_recipient, subscribe):
    recipient = make_recipient("user")
    for _ in range(2):
        assert subscribe({"user_id": str(recipient.pk), "device_id": "sub-a"}).json() == OK
    assert Device.objects.count() == 1 and DeviceHistory.objects.count() == 1


def test_second_device_is_added(make_recipient, subscribe):
    recipient = make_recipient("user")
    subscribe({"user_id": str(recipient.pk), "device_id": "phone"})
    assert subscribe({"user_id": str(recipient.pk), "device_id": "tablet"}).status_code == 200
    assert set(recipient.devices.values_list("device_id", flat=True)) == {"phone", "tablet"}


def test_device_of_another_user_returns_409(make_recipient, subscribe):
    alice, bob = make_recipient("user"), make_recipient("user")
    subscribe({"user_id": str(alice.pk), "device_id": "shared"})
    response = subscribe({"user_id": str(bob.pk), "device_id": "shared"})
    assert response.status_code == 409
    assert response.json() == {"status": "error", "message": "Device already registered with a different user."}
    assert Device.objects.get(device_id="shared").recipient == alice


def test_token_change_with_previous_device_id_is_recorded(make_recipient, subscribe):
    # given the app was reinstalled and got a new subscription id
    recipient = make_recipient("user")
    subscribe({"user_id": str(recipient.pk), "device_id": "old-token"})
    # when
    response = subscribe({"user_id": str(recipient.pk), "device_id": "new-token", "previous_device_id": "old-token"})
    # then the old device is deactivated (kept for audit) and the change is in the history
    assert response.status_code == 200
    assert list(recipient.devices.filter(is_active=True).values_list("device_id", flat=True)) == ["new-token"]
    latest = DeviceHistory.objects.filter(recipient=recipient).first()
    assert (latest.old_device_id, latest.new_device_id) == ("old-token", "new-token")


def test_previous_device_of_another_user_is_not_touched(make_recipient, subscribe):
    alice, bob = make_recipient("user"), make_recipient("user")
    subscribe({"user_id": str(alice.pk), "device_id": "alice-phone"})
    subscribe({"user_id": str(bob.pk), "device_id": "bob-phone", "previous_device_id": "alice-phone"})
    assert Device.objects.get(device_id="alice-phone").recipient == alice
    assert Device.objects.get(device_id="bob-phone").recipient == bob


def test_resubscribing_reactivates_a_deactivated_device(make_recipient, subscribe):
    recipient = make_recipient("user", devices=1)
    device = recipient.devices.get()
    Device.objects.filter(pk=device.pk).update(is_active=False, deactivated_reason="invalid")
    assert subscribe({"user_id": str(recipient.pk), "device_id": device.device_id}).status_code == 200
    assert Device.objects.get(pk=device.pk).is_active


@pytest.mark.parametrize("body,field", [
    ({"device_id": "x"}, "user_id"),
    ({"user_id": "nope", "device_id": "x"}, "user_id"),
    ({"user_id": str(uuid.uuid4())}, "device_id"),
    ({"user_id": str(uuid.uuid4()), "device_id": ""}, "device_id"),
    ({"user_id": str(uuid.uuid4()), "device_id": "x" * 256}, "device_id"),
])
def test_bad_subscribe_request_returns_spec_400(db, subscribe, body, field):
    response = subscribe(body)
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert response.json()["message"] == "Invalid request format or parameters."
    assert field in response.json()["errors"]
    assert not Device.objects.exists()


def test_unknown_user_returns_spec_404(db, subscribe):
    response = subscribe({"user_id": str(uuid.uuid4()), "device_id": "x"})
    assert response.status_code == 404
    assert response.json()["message"] == "User not found." and response.json()["status"] == "error"


def test_user_token_may_subscribe_only_itself(make_recipient, subscribe):
    alice, bob = make_recipient("user"), make_recipient("user")
    own = subscribe({"user_id": str(alice.pk), "device_id": "a"}, client=user_client(alice))
    assert own.status_code == 200
    foreign = subscribe({"user_id": str(bob.pk), "device_id": "b"}, client=user_client(alice))
    assert foreign.status_code == 403 and foreign.json()["status"] == "error"
    assert not Device.objects.filter(device_id="b").exists()


def test_subscribe_is_never_anonymous_or_open_to_other_services(db, api_client, crm_client, make_recipient):
    recipient = make_recipient("user")
    body = {"user_id": str(recipient.pk), "device_id": "x"}
    assert api_client.post("/notifications/subscribe", body, format="json").status_code == 401
    assert crm_client.post("/notifications/subscribe", body, format="json").status_code == 403
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert api_client.post("/notifications/subscribe", body, format="json").status_code == 401


def test_expired_user_token_is_rejected(make_recipient, subscribe, settings):
    settings.NOTIFICATIONS_USER_TOKEN_MINUTES = -1
    recipient = make_recipient("user")
    client = user_client(recipient)
    assert subscribe({"user_id": str(recipient.pk), "device_id": "x"}, client=client).status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_storage_failure_returns_spec_500(make_recipient, subscribe):
    # given the device table is unavailable (a real database error, not a mock)
    from django.db import connection

    recipient = make_recipient("user")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_device RENAME TO notifications_device_away")
    try:
        # when
        response = subscribe({"user_id": str(recipient.pk), "device_id": "x"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE notifications_device_away RENAME TO notifications_device")
    # then
    assert response.status_code == 500
    assert response.json() == {"status": "error", "message": "Failed to process the subscription."}
    assert not DeviceHistory.objects.exists()
