"""Issue 15: one admin page for every kind of outbound call, with filters, retry and cancel."""

import re

from communications.models import Delivery
from communications.services import deliveries as svc
from notifications.models import Notification, Recipient
from notifications.services.sending import _delivery_create

URL = "/admin/communications/delivery/all/"


def listed(admin_client, query=""):
    page = admin_client.get(URL + query)
    assert page.status_code == 200
    return set(re.findall(r'name="selected" value="([^"]+)"', page.content.decode()))


def test_every_kind_on_one_page_with_filters_retry_and_cancel(admin_client, fast_retries, tenant_configuration,
                                                               fake_provider, django_capture_on_commit_callbacks):
    call = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead", payload={})
    recipient = Recipient.objects.create(role="user", email="a@example.com")
    notification = Notification.objects.create(recipient=recipient, service="email", subject="s",
                                               type="notification", message="m", status="unknown",
                                               http_status=500, attempts=1)
    _delivery_create(notification, synchronous=True)  # the send's engine row, which ended `unknown`
    Delivery.objects.filter(pk=notification.delivery_id).update(status="unknown", attempts=1)
    send = f"notification:{notification.delivery_id}"
    both = {f"provider:{call.pk}", send}
    assert both <= listed(admin_client)
    assert listed(admin_client, "?kind=notification") == {send}
    assert listed(admin_client, f"?tenant={tenant_configuration.tenant_id}") == {f"provider:{call.pk}"}
    assert listed(admin_client, "?status=unknown") == {send}
    assert listed(admin_client, "?provider=email") == {send}
    assert listed(admin_client, f"?provider={tenant_configuration.provider.code}") == {f"provider:{call.pk}"}
    # cancel the pending call
    response = admin_client.post(URL, {"action": "cancel", "selected": [f"provider:{call.pk}"]}, follow=True)
    assert "Выполнено: 1" in response.content.decode()
    assert Delivery.objects.get(pk=call.pk).status == Delivery.Status.CANCELLED
    # retry the unknown notification (the admin decides; never automatic)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, {"action": "retry", "selected": [send]}, follow=True)
    assert "Выполнено: 1" in response.content.decode()
    notification.refresh_from_db()
    assert notification.attempts == 2 and notification.status == "sent"


def test_the_page_needs_an_admin(client, db):
    assert client.get(URL).status_code in (302, 403)


def test_the_admin_index_links_to_the_page(admin_client):
    assert URL in admin_client.get("/admin/").content.decode()
