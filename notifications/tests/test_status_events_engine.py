"""Issue 15: status events of the notification service run on the delivery engine's row (kind `callback`).

Their outcomes follow the engine's one table: 2xx delivered; 5xx / 429 / network retried with the same
`webhook-id`; other 4xx refused, final; a lost dispatch or a dead worker is picked up by the sweeper; the
admin's one deliveries page lists them with retry and cancel.
"""

import re
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from communications.models import Delivery
from communications.tests.factories import all_final
from config.testing.processes import subprocess_env, wait_until, worker_killed_mid_call
from delivery import engine
from notifications.models import NotifyRequest
from notifications.services.callbacks import status_event_enqueue
from notifications.tests.factories import NotifyRequestFactory, StatusCallbackFactory, verified

ADMIN_PAGE = "/admin/communications/delivery/all/"


@pytest.fixture
def fast(settings):
    settings.DELIVERY_RETRY_SCHEDULE = [0.1] * 5
    settings.DELIVERY_RETRY_JITTER = 0
    settings.DELIVERY_SWEEP_GRACE = 0
    return settings


def _events():
    return list(Delivery.objects.filter(kind=Delivery.Kind.CALLBACK).order_by("pk"))


def test_a_5xx_is_retried_with_the_same_webhook_id_until_delivered(fast, fakes, make_recipient, notify,  # noqa: F811
                                                                   receiver, callback):  # noqa: F811
    receiver.fail_next("*", 503, {"error": "busy"}, times=2)
    notify(make_recipient("user", telegram=True))
    [event] = _events()
    assert event.status == Delivery.Status.DELIVERED and event.endpoint == "notification.delivered"
    assert list(event.attempt_log.order_by("pk").values_list("outcome", flat=True)) == ["retry", "retry", "success"]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {f"{event.payload['data']['id']}:notification.delivered"}
    assert verified(receiver, callback)[-1]["type"] == "notification.delivered"


def test_a_4xx_is_a_final_refusal_listed_on_the_admin_deliveries_page(fast, fakes, make_recipient, notify,  # noqa: F811
                                                                      receiver, callback, admin_client):  # noqa: F811
    receiver.fail_next("*", 410, {"error": "gone"})
    notify(make_recipient("user", telegram=True))
    [event] = _events()
    assert event.status == Delivery.Status.REFUSED and "HTTP 410" in event.last_error
    assert len(receiver.requests) == 1
    page = admin_client.get(ADMIN_PAGE + "?kind=callback").content.decode()
    assert set(re.findall(r'name="selected" value="([^"]+)"', page)) == {f"callback:{event.pk}"}


def test_the_admin_retries_a_refused_event(fast, fakes, make_recipient, notify, receiver, callback,  # noqa: F811
                                           admin_client, django_capture_on_commit_callbacks):
    receiver.fail_next("*", 400, {"error": "bad"})
    notify(make_recipient("user", telegram=True))
    [event] = _events()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADMIN_PAGE, {"action": "retry", "selected": [f"callback:{event.pk}"]},
                                     follow=True)
    assert "Выполнено: 1" in response.content.decode()
    event.refresh_from_db()
    assert event.status == Delivery.Status.DELIVERED and len(receiver.requests) == 2


def test_an_event_is_queued_once_per_notification_and_event(fakes, make_recipient, notify, receiver,  # noqa: F811
                                                           callback):  # noqa: F811
    notify(make_recipient("user", telegram=True))
    notify_row = NotifyRequest.objects.get()
    status_event_enqueue(notify=notify_row, event="notification.delivered")  # e.g. a dispatch that ran twice
    assert len(_events()) == 1


def test_an_event_whose_dispatch_was_lost_is_sent_by_the_sweeper(fast, fakes, make_recipient, receiver,  # noqa: F811
                                                                 callback, notifications_service_client,
                                                                 django_capture_on_commit_callbacks):  # noqa: F811
    # given: an event row committed but never published (the on-commit dispatch did not run)
    recipient = make_recipient("user", telegram=True)
    account = notifications_service_client.user
    notify_row = NotifyRequestFactory(recipient=recipient, requested_by=account)
    status_event_enqueue(notify=notify_row, event="notification.delivered")
    [event] = _events()
    assert event.status == Delivery.Status.PENDING and receiver.requests == []
    # when: the beat sweeper runs
    with django_capture_on_commit_callbacks(execute=True):
        swept = engine.deliveries_sweep()
    # then
    event.refresh_from_db()
    assert swept == 1 and event.status == Delivery.Status.DELIVERED
    assert verified(receiver, callback)[0]["data"]["id"] == str(notify_row.pk)


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
@pytest.mark.integration
def test_a_worker_killed_mid_event_leads_to_one_more_send_with_the_same_webhook_id(
        transactional_db, settings, receiver, tmp_path):  # noqa: F811
    # given: a worker subprocess on its own queue; the receiver hangs on the first event
    queue = f"callbacks-kill-{uuid.uuid4().hex[:8]}"
    settings.DELIVERY_QUEUE = queue
    settings.DELIVERY_SWEEP_GRACE = 0
    env = subprocess_env(DELIVERY_QUEUE=queue, CELERY_VISIBILITY_TIMEOUT="4", PROVIDER_CONNECT_TIMEOUT="1",
                         PROVIDER_READ_TIMEOUT="3", DELIVERY_LEASE_MARGIN="1", DELIVERY_SWEEP_GRACE="0",
                         DELIVERY_RETRY_SCHEDULE="0.2,0.2,0.2")
    receiver.reset()
    receiver.stall_next("*", 20)
    account = StatusCallbackFactory(url=receiver.url + "/hooks").account
    with transaction.atomic():
        notify_row = NotifyRequestFactory(recipient__email="a@example.com", requested_by=account,
                                          finished_at=timezone.now())
        status_event_enqueue(notify=notify_row, event="notification.delivered")
    [event] = _events()
    # when: the worker is killed mid-call and a new one starts
    with worker_killed_mid_call(env, queue, tmp_path, in_flight=lambda: len(receiver.requests) == 1):
        # then: after the lease, the sweeper sends it again; the receiver drops the repeat by webhook-id
        wait_until(lambda: all_final([event.pk]), timeout=90, interval=1, on_tick=engine.deliveries_sweep)
    event.refresh_from_db()
    assert event.status == Delivery.Status.DELIVERED
    assert list(event.attempt_log.order_by("pk").values_list("outcome", flat=True)) == ["interrupted", "success"]
    assert len(receiver.requests) == 2
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"{notify_row.pk}:notification.delivered"}
