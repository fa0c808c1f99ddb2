"""Retention of the delivery log (issue 19): final rows and their attempts older than
DELIVERY_RETENTION_DAYS go, in batches; pending / in-progress rows, a dead row still holding its chain,
recent rows and the notification audit tables stay."""

import math
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications.models import Delivery, DeliveryAttempt
from communications.services.retention import deliveries_prune
from communications.tasks import deliveries_prune_task
from communications.tests.factories import DeliveryAttemptFactory, DeliveryFactory
from notifications.models import Device, Notification, PushHistory, ServiceBinding
from notifications.tests.factories import DeviceFactory, NotificationFactory, RecipientFactory, ServiceBindingFactory

pytestmark = pytest.mark.django_db

S = Delivery.Status


def _row(status, *, days_old, ordering_key="", attempts=1, **fields):
    delivery = DeliveryFactory(**{"webhook": True, **fields}, status=status, ordering_key=ordering_key)
    for number in range(1, attempts + 1):
        DeliveryAttemptFactory(delivery=delivery, number=number, outcome=DeliveryAttempt.Outcome.RETRY,
                               status_code=None, error="")
    # updated_at is auto_now: age the row afterwards, as time would.
    Delivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now() - timedelta(days=days_old))
    return delivery


def _deletes(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('DELETE FROM "communications_delivery" '))


def test_deletes_only_old_final_rows_and_their_attempts():
    old_final = [_row(status, days_old=31, attempts=2) for status in Delivery.FINAL_STATUSES]
    keep = [_row(S.PENDING, days_old=90), _row(S.IN_PROGRESS, days_old=90), _row(S.DELIVERED, days_old=29),
            _row(S.DEAD, days_old=29)]

    assert deliveries_prune() == len(old_final)

    assert not Delivery.objects.filter(pk__in=[d.pk for d in old_final]).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id__in=[d.pk for d in old_final]).exists()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in keep}
    assert DeliveryAttempt.objects.count() == len(keep)  # one attempt each, untouched
    assert deliveries_prune() == 0  # nothing left to do: a second run is a no-op


def test_age_is_configurable(settings):
    row = _row(S.DELIVERED, days_old=8)
    settings.DELIVERY_RETENTION_DAYS = 10
    assert deliveries_prune() == 0
    settings.DELIVERY_RETENTION_DAYS = 7
    assert deliveries_prune() == 1
    assert not Delivery.objects.filter(pk=row.pk).exists()


def test_deletes_in_batches_of_the_configured_size(settings):
    settings.DELIVERY_RETENTION_BATCH = 3
    rows = [_row(S.DELIVERED, days_old=40 + i) for i in range(8)]

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_prune() == len(rows)

    assert _deletes(queries) == math.ceil(len(rows) / 3)  # one DELETE per short transaction
    assert Delivery.objects.count() == 0


def test_max_batches_bounds_one_run_oldest_first():
    rows = [_row(S.DELIVERED, days_old=40 + i) for i in range(5)]
    assert deliveries_prune(batch=2, max_batches=1) == 2
    # The two oldest went first.
    assert set(Delivery.objects.values_list("pk", flat=True)) == {r.pk for r in rows[:3]}


def test_a_dead_row_holding_its_chain_stays_until_the_chain_moves_on():
    holding = _row(S.DEAD, days_old=60, ordering_key="chat-1")
    waiting = _row(S.PENDING, days_old=59, ordering_key="chat-1")
    released = _row(S.DEAD, days_old=60, ordering_key="chat-2")  # nothing waits behind it
    _row(S.DELIVERED, days_old=58, ordering_key="chat-2")

    assert deliveries_prune() == 2
    assert set(Delivery.objects.values_list("pk", flat=True)) == {holding.pk, waiting.pk}
    assert not Delivery.objects.filter(pk=released.pk).exists()

    Delivery.objects.filter(pk=waiting.pk).update(status=S.CANCELLED, updated_at=timezone.now())  # moved on now
    assert deliveries_prune() == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {waiting.pk}


def test_notification_audit_rows_are_never_pruned():
    recipient = RecipientFactory(name="Менеджер", email="m@example.com")
    binding = ServiceBindingFactory(recipient=recipient, service="telegram", service_user_id="700001")
    device = DeviceFactory(recipient=recipient, device_id="device-1")
    delivery = _row(S.DELIVERED, days_old=400)
    notification = NotificationFactory(recipient=recipient, service="push", subject="Сделка", status="sent",
                                       attempts=1, delivery=delivery)
    Notification.objects.filter(pk=notification.pk).update(timestamp=timezone.now() - timedelta(days=400))
    push = PushHistory.objects.create(notification=notification, recipient=recipient, subject="Сделка",
                                      type="notification", message="Текст", title="Сделка", device_ids=["device-1"])

    assert deliveries_prune() == 1

    notification.refresh_from_db()
    assert notification.delivery_id is None  # only the link to the engine row is emptied
    assert (notification.status, notification.attempts) == ("sent", 1)  # the history keeps its own record
    assert PushHistory.objects.filter(pk=push.pk).exists()
    assert ServiceBinding.objects.filter(pk=binding.pk).exists()
    assert Device.objects.filter(pk=device.pk).exists()


def test_management_command_and_beat_task(capsys):
    _row(S.DELIVERED, days_old=40)
    _row(S.DELIVERED, days_old=20)

    call_command("prune_deliveries", "--days", "30", "--batch", "5")
    assert "Удалено доставок: 1" in capsys.readouterr().out
    assert Delivery.objects.count() == 1

    call_command("prune_deliveries", "--days", "10")
    assert Delivery.objects.count() == 0

    _row(S.REFUSED, days_old=31)
    assert deliveries_prune_task() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["communications-deliveries-prune"]
    assert entry["task"] == deliveries_prune_task.name


def test_management_command_refuses_bad_arguments():
    _row(S.DELIVERED, days_old=40)
    with pytest.raises((SystemExit, CommandError)):
        call_command("prune_deliveries", "--days", "0")
    with pytest.raises((SystemExit, CommandError)):
        call_command("prune_deliveries", "--batch", "0")
    assert Delivery.objects.count() == 1


def test_rows_that_records_point_at_are_pruned_with_the_links_emptied_and_a_kept_sync_page_dropped():
    from communications.models import InitialSync, InitialSyncPage

    # given: an old completed sync whose last page row is final, and an old import row of a failed one with its
    # kept answer (never resumed)
    last_page = _row(S.DELIVERED, days_old=31, webhook=False, kind=Delivery.Kind.SYNC_PAGE)
    sync = InitialSync.objects.create(tenant_id=last_page.tenant_id, provider=last_page.provider, delivery=last_page,
                                      status=InitialSync.Status.COMPLETED, pages_fetched=3, pages_done=3)
    import_row = _row(S.DEAD, days_old=31, webhook=False, kind=Delivery.Kind.SYNC_IMPORT)
    InitialSyncPage.objects.create(sync=sync, run=1, page=0, messages=1, body=b"{}", delivery=import_row)
    # when: the retention job runs
    assert deliveries_prune() == 2
    # then: the constraints hold (the raw DELETE is checked at commit), the sync stays with an empty link
    connection.check_constraints()
    sync.refresh_from_db()
    assert (sync.status, sync.delivery_id, sync.pages_done) == (InitialSync.Status.COMPLETED, None, 3)
    assert not InitialSyncPage.objects.exists()
