import uuid

from notifications.models import Recipient


def test_service_upserts_recipient(notifications_service_client):
    rid = uuid.uuid4()
    url = f"/notifications/recipients/{rid}"
    created = notifications_service_client.put(url, {"role": "manager", "email": "m@example.com", "name": "Мария"},
                                               format="json")
    assert created.status_code == 201
    assert created.json() == {"id": str(rid), "role": "manager", "email": "m@example.com", "name": "Мария"}
    updated = notifications_service_client.put(url, {"role": "admin", "email": "", "name": "Мария"}, format="json")
    assert updated.status_code == 200
    assert Recipient.objects.get(pk=rid).role == "admin"


def test_upsert_rejects_unknown_role_without_writing(notifications_service_client):
    rid = uuid.uuid4()
    response = notifications_service_client.put(f"/notifications/recipients/{rid}", {"role": "boss"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]
    assert not Recipient.objects.exists()


def test_upsert_and_token_need_the_notifications_service(db, crm_client, api_client):
    url = f"/notifications/recipients/{uuid.uuid4()}"
    assert crm_client.put(url, {"role": "user"}, format="json").status_code == 403
    assert api_client.put(url, {"role": "user"}, format="json").status_code == 401
    assert crm_client.post(url + "/token").status_code == 403


def test_service_issues_a_user_token_that_works_for_subscribe(make_recipient, notifications_service_client,
                                                              api_client):
    recipient = make_recipient("user")
    response = notifications_service_client.post(f"/notifications/recipients/{recipient.pk}/token")
    assert response.status_code == 201 and response.json()["expires_at"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    ok = api_client.post("/notifications/subscribe", {"user_id": str(recipient.pk), "device_id": "d"}, format="json")
    assert ok.status_code == 200
    # the user token opens nothing else
    assert api_client.put(f"/notifications/recipients/{recipient.pk}", {"role": "admin"},
                          format="json").status_code == 401


def test_token_for_unknown_recipient_is_404(db, notifications_service_client):
    assert notifications_service_client.post(f"/notifications/recipients/{uuid.uuid4()}/token").status_code == 404


def test_upsert_refuses_a_number_for_name_without_writing(notifications_service_client):
    # the schema says `name` is a string; DRF's CharField would have stored 0 as "0" (found by the fuzzer)
    rid = uuid.uuid4()
    response = notifications_service_client.put(f"/notifications/recipients/{rid}", {"role": "user", "name": 0},
                                                format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    assert not Recipient.objects.exists()
