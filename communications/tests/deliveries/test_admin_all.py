"""Issue 15: one admin page for every kind of outbound call, with filters, retry and cancel."""

import re

from communications.models import Delivery
from communications.services import deliveries as svc
from notifications.services.sending import _delivery_create
from notifications.tests.factories import NotificationFactory

URL = "/admin/communications/delivery/all/"


def listed(admin_client, query=""):
    page = admin_client.get(URL + query)
    assert page.status_code == 200
    return set(re.findall(r'name="selected" value="([^"]+)"', page.content.decode()))


def test_every_kind_on_one_page_with_filters_retry_and_cancel(admin_client, fast_retries, tenant_configuration,
                                                               fake_provider, django_capture_on_commit_callbacks):
    call = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead", payload={})
    notification = NotificationFactory(recipient__email="a@example.com", status="unknown", http_status=500,
                                       attempts=1)
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


def test_sync_pages_and_test_stand_runs_are_engine_rows_on_the_same_page(
        admin_client, fast_retries, tenant_configuration, fake_provider, django_capture_on_commit_callbacks):
    from communications.models import ConformanceRun, InitialSync
    from communications.services import teststand
    from communications.services.sync import initial_sync_prepare, initial_sync_resume
    from communications.tests.factories import make_configuration

    # given: an initial sync with its page row queued, and a queued test-stand run (nothing dispatched)
    stand_code = make_configuration(fake_provider, code=f"stand-{tenant_configuration.provider.code}").provider.code
    with django_capture_on_commit_callbacks(execute=False):
        sync = initial_sync_resume(sync=initial_sync_prepare(tenant_configuration=tenant_configuration))
        run = teststand.conformance_run_start(app_code=stand_code, app_version="1.0.0", origin="moderator")
    page, stand = f"sync_page:{sync.delivery_id}", f"teststand_run:{run.delivery_id}"
    # then: both on the one page, filterable by kind, tenant and provider, linked to their own admin pages
    assert {page, stand} <= listed(admin_client)
    assert listed(admin_client, "?kind=sync_page") == {page}
    assert listed(admin_client, "?kind=teststand_run") == {stand}
    assert page in listed(admin_client, f"?tenant={tenant_configuration.tenant_id}")
    assert listed(admin_client, f"?provider={stand_code}") == {stand}
    html = admin_client.get(URL).content.decode()
    assert f"/admin/communications/initialsync/{sync.pk}/change/" in html
    assert f"/admin/communications/conformancerun/{run.pk}/change/" in html
    # when: a moderator cancels both
    admin_client.post(URL, {"action": "cancel", "selected": [page, stand]})
    # then: the sync stops as failed (resumable) and the run is interrupted, each with the reason
    sync.refresh_from_db()
    run.refresh_from_db()
    assert sync.status == InitialSync.Status.FAILED and "отменена модератором" in sync.last_error
    assert run.status == ConformanceRun.Status.INTERRUPTED and "отменена модератором" in run.summary
    # when: retried: the sync resumes from its cursor with a fresh page row; a run is not retried from here
    cancelled_page = sync.delivery_id
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(URL, {"action": "retry", "selected": [page, stand]}, follow=True)
    text = response.content.decode()
    assert "Выполнено: 1" in text and "со страницы версии" in text
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.RUNNING and sync.delivery_id != cancelled_page
    assert Delivery.objects.get(pk=sync.delivery_id).status == Delivery.Status.PENDING
