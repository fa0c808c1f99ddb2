import pytest
from django.urls import reverse

from notifications.models import ServiceBindingHistory
from notifications.tests.factories import NotificationFactory, NotifyRequestFactory


@pytest.mark.parametrize("model", ["recipient", "notification", "pushhistory", "servicebindinghistory",
                                   "devicehistory", "bindingtoken"])
def test_admin_changelists_render(admin_client, make_recipient, model):
    make_recipient("admin", telegram=True, devices=1)
    response = admin_client.get(reverse(f"admin:notifications_{model}_changelist"))
    assert response.status_code == 200


def test_admin_recipient_page_shows_bindings_and_devices_inline(admin_client, make_recipient):
    recipient = make_recipient("admin", telegram=True, devices=1)
    page = admin_client.get(reverse("admin:notifications_recipient_change", args=[recipient.pk])).content.decode()
    assert "Привязки к сервисам" in page or "привязки к сервисам" in page
    assert recipient.devices.get().device_id in page


def test_admin_notification_history_filters_and_is_read_only(admin_client, make_recipient):
    recipient = make_recipient("user")
    sent = NotificationFactory(recipient=recipient, service="email", subject="Видно", status="sent")
    NotificationFactory(recipient=recipient, service="vk", subject="Скрыто", status="failed")
    url = reverse("admin:notifications_notification_changelist")
    page = admin_client.get(url, {"service": "email", "status": "sent", "type": "notification"}).content.decode()
    assert "Видно" in page and "Скрыто" not in page
    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403
    change = admin_client.post(reverse("admin:notifications_notification_change", args=[sent.pk]),
                                  {"subject": "x"})
    assert change.status_code == 403


def test_admin_binding_history_is_read_only(admin_client, make_recipient):
    recipient = make_recipient("user")
    row = ServiceBindingHistory.objects.create(recipient=recipient, service="vk", new_service_user_id="1")
    assert admin_client.post(reverse("admin:notifications_servicebindinghistory_delete", args=[row.pk]),
                                {"post": "yes"}).status_code == 403


def test_admin_notify_request_page_shows_channel_attempts(admin_client, make_recipient):
    recipient = make_recipient("user")
    notify = NotifyRequestFactory(recipient=recipient)
    NotificationFactory(recipient=recipient, service="telegram", status="failed", last_error="Telegram 403: blocked",
                        notify_request=notify)
    page = admin_client.get(reverse("admin:notifications_notifyrequest_change", args=[notify.pk])).content.decode()
    assert "Telegram 403: blocked" in page


def test_admin_recipient_page_shows_preferences_read_only(admin_client, make_recipient):
    from notifications.models import NotificationPreference, PreferenceChange

    recipient = make_recipient("user")
    NotificationPreference.objects.create(recipient=recipient, type="notification", channel="vk", enabled=False)
    PreferenceChange.objects.create(recipient=recipient, setting="notification/vk", old_value="on", new_value="off",
                                    source="api")
    page = admin_client.get(reverse("admin:notifications_recipient_change", args=[recipient.pk])).content.decode()
    assert "настройки уведомлений" in page.lower()
    assert admin_client.get(reverse("admin:notifications_preferencechange_changelist")).status_code == 200
