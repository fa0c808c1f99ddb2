"""Issue 15: one outcome classification for notification sends (docs/notifications.md, «Исходы»).

success / permanent / transient / ambiguous. Ambiguous (the request may have arrived) is retried only
where the receiver drops duplicates (OneSignal idempotency_key, VK random_id); Telegram and email record
it as `unknown`, answer 500 and never re-send on their own.
"""

import contextlib
import socket

import pytest

from notifications.models import Notification
from notifications.tests.factories import NotificationFactory


def body(recipient, service="telegram", **extra):
    return {"user_id": str(recipient.pk), "service": service, "subject": "Дедлайн", "type": "notification",
            "message": "Завтра", **extra}


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_telegram_answer_after_the_read_timeout_is_unknown_and_sent_once(fakes, make_recipient, send, settings):
    # given Telegram answers only after our read timeout
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 1
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].stall_next("sendMessage", 2)
    headers = {"Idempotency-Key": "tg-timeout"}
    # when
    response = send(body(recipient), headers=headers)
    # then: 500, one call only, the row says it may have arrived
    assert response.status_code == 500
    assert response.json()["message"] == "Failed to send notification."
    assert len(fakes["telegram"].calls("sendMessage")) == 1
    row = Notification.objects.get(pk=response["Notification-Id"])
    assert row.status == "unknown" and row.attempts == 1
    # and the same key does not send it again
    again = send(body(recipient), headers=headers)
    assert again.status_code == 500
    assert len(fakes["telegram"].calls("sendMessage")) == 1


def test_async_telegram_read_timeout_is_unknown_and_not_retried(fakes, make_recipient, send, settings,
                                                                django_capture_on_commit_callbacks):
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 1
    recipient = make_recipient("user", telegram=True)
    fakes["telegram"].stall_next("sendMessage", 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body(recipient), headers={"Prefer": "respond-async"})
    assert response.status_code == 202
    row = Notification.objects.get(pk=response.json()["notification_id"])
    assert row.status == "unknown"
    assert len(fakes["telegram"].calls("sendMessage")) == 1


def test_onesignal_read_timeout_is_retried_with_the_same_idempotency_key(fakes, make_recipient, send, settings):
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = 1
    recipient = make_recipient("admin", devices=1)
    fakes["onesignal"].stall_next("notifications", 2)
    response = send(body(recipient, service="push"))
    assert response.status_code == 200
    calls = fakes["onesignal"].calls("notifications")
    assert len(calls) == 2
    assert calls[0].json["idempotency_key"] == calls[1].json["idempotency_key"]
    assert len(fakes["onesignal"].delivered) == 1


def test_smtp_451_at_rcpt_is_temporary_and_retried(fakes, make_recipient, send):
    # given the mail server greylists the recipient once
    recipient = make_recipient("user")
    fakes["smtp"].greylist(recipient.email, times=1)
    # when
    response = send(body(recipient, service="email"))
    # then the retry inside the window delivers it
    assert response.status_code == 200
    assert len(fakes["smtp"].messages) == 1
    assert Notification.objects.get(pk=response["Notification-Id"]).attempts == 2


def test_async_smtp_451_is_retried(fakes, make_recipient, send, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from communications.models import Delivery
    from delivery import engine

    recipient = make_recipient("user")
    fakes["smtp"].greylist(recipient.email, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(body(recipient, service="email"), headers={"Prefer": "respond-async"})
    row = Notification.objects.get(pk=response.json()["notification_id"])
    first = row.delivery.attempt_log.order_by("pk").first()
    assert first.outcome == "retry" and "451" in first.error  # scheduled, not failed
    # when the retry is due (it may already have run: eager Celery ignores the countdown)
    Delivery.objects.filter(pk=row.delivery_id, status="pending").update(next_attempt_at=timezone.now())
    engine.delivery_send(delivery_id=row.delivery_id)
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2


def test_same_key_after_a_provider_failure_tries_again_and_delivers(fakes, make_recipient, send, settings):
    # given Telegram is down during the first request
    settings.NOTIFICATIONS_SYNC_DEADLINE = 1
    good_url = settings.TELEGRAM_API_BASE_URL
    settings.TELEGRAM_API_BASE_URL = _closed_port_url()
    recipient = make_recipient("user", telegram=True)
    headers = {"Idempotency-Key": "retry-after-outage"}
    first = send(body(recipient), headers=headers)
    assert first.status_code == 500
    # when it is back and the client retries with the same key
    settings.TELEGRAM_API_BASE_URL = good_url
    second = send(body(recipient), headers=headers)
    # then it is delivered once, on the same row
    assert second.status_code == 200
    assert second["Notification-Id"] == first["Notification-Id"]
    assert len(fakes["telegram"].sent_messages()) == 1
    # and a further retry replays the 200 without sending
    third = send(body(recipient), headers=headers)
    assert third.status_code == 200
    assert len(fakes["telegram"].sent_messages()) == 1


def test_same_key_after_delivery_never_sends_twice(fakes, make_recipient, send):
    recipient = make_recipient("user", vk=True)
    headers = {"Idempotency-Key": "vk-once"}
    assert send(body(recipient, service="vk"), headers=headers).status_code == 200
    assert send(body(recipient, service="vk"), headers=headers).status_code == 200
    assert len(fakes["vk"].calls("messages.send")) == 1


@pytest.mark.parametrize("in_flight,expected,http_status,calls", [(False, "sent", 200, 1),
                                                                 (True, "unknown", 500, 0)])
def test_the_sweeper_finishes_a_sync_send_whose_process_died(fakes, make_recipient, settings, in_flight, expected,
                                                             http_status, calls, django_capture_on_commit_callbacks):
    """Never attempted: sent in the background (nothing is lost; a replay of the key gets the 200).
    A Telegram call was in flight: it may have arrived, so `unknown`, never re-sent on its own."""
    from datetime import timedelta

    from django.utils import timezone

    from communications.models import Delivery
    from delivery import engine
    from notifications.services.sending import _delivery_create

    settings.DELIVERY_SWEEP_GRACE = 0
    recipient = make_recipient("user", telegram=True)
    row = NotificationFactory(recipient=recipient, service="telegram", attempts=1 if in_flight else 0)
    _delivery_create(row, synchronous=True)
    long_ago = timezone.now() - timedelta(hours=1)
    if in_flight:
        Delivery.objects.filter(pk=row.delivery_id).update(status="in_progress", attempts=1, lease_expires_at=long_ago)
    else:
        Delivery.objects.filter(pk=row.delivery_id).update(next_attempt_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.deliveries_sweep() == 1
    row.refresh_from_db()
    assert row.status == expected and row.http_status == http_status
    assert len(fakes["telegram"].sent_messages()) == calls


def test_the_claim_counts_the_attempt_on_the_history_row_before_the_call(
        fakes, make_recipient, settings, django_capture_on_commit_callbacks):
    """The claim itself counts the attempt (`claim_also`): a process that dies in the call has counted it. Both claims:
    the one statement (a due row), the general one (a VK call whose process died: VK drops repeats, so it is re-sent)."""
    from datetime import timedelta

    from django.utils import timezone

    from communications.models import Delivery
    from delivery import engine
    from notifications.services.sending import _delivery_create

    recipient = make_recipient("user", telegram=True, vk=True)
    row = NotificationFactory(recipient=recipient, service="telegram")
    _delivery_create(row, synchronous=True)
    claimed = engine._claim(row.delivery_id, "notification")
    assert claimed[1] == 1 and Notification.objects.get(pk=row.pk).attempts == 1
    assert fakes["telegram"].sent_messages() == []  # counted before any call

    settings.DELIVERY_SWEEP_GRACE = 0
    lost = NotificationFactory(recipient=recipient, service="vk", attempts=1)
    _delivery_create(lost, synchronous=False)
    Delivery.objects.filter(pk=lost.delivery_id).update(status="in_progress", attempts=1,
                                                         lease_expires_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.deliveries_sweep() == 1
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("sent", 2) and len(fakes["vk"].calls("messages.send")) == 1


@pytest.mark.parametrize("why", ["unbound", "rate_limited"])
def test_a_claim_that_makes_no_call_counts_no_attempt(fakes, make_recipient, settings, why):
    """The claim counts the attempt before the call; when no call is made (the address went away since the request, or
    a shared rate limit asks to wait), the count is taken back: `attempts` counts the calls made."""
    from communications.models import Delivery
    from delivery import engine
    from notifications.services import notification_send

    recipient = make_recipient("user", telegram=True)
    queued = notification_send(requested_by=None, user_id=recipient.pk, service="telegram", subject="s",
                               type="notification", message="m", is_async=True)
    if why == "unbound":
        recipient.bindings.update(is_active=False)
    else:
        settings.TELEGRAM_RATE_LIMIT_GLOBAL = 0  # every window full: the send waits (~3 s), then defers
    outcome = engine.delivery_send(delivery_id=queued.delivery_id, kind="notification")
    assert outcome == {"unbound": "refused", "rate_limited": "deferred"}[why]
    assert Notification.objects.get(pk=queued.pk).attempts == 0
    assert Delivery.objects.get(pk=queued.delivery_id).attempts == (1 if why == "unbound" else 0)
    assert fakes["telegram"].sent_messages() == []


@pytest.mark.postgres
def test_a_claim_given_back_because_prepare_failed_takes_its_count_back(make_recipient):
    """The one-statement claim counted the attempt on the history row (`claim_also`); when the kind's `prepare` then
    fails, nothing is sent and the claim is given back: the count with it (`claim_undo`), in one transaction."""
    from communications.models import Delivery
    from config.testing.kinds import kind_registered
    from delivery import engine
    from notifications.services.sending import _NotificationKind

    class _FailingPrepare(_NotificationKind):
        name = "test_notif_fail"

        def prepare(self, delivery):
            raise RuntimeError("prepare failed")

    with kind_registered(_FailingPrepare):
        row = NotificationFactory(recipient=make_recipient("user", telegram=True), service="telegram")
        delivery = engine.delivery_create(kind=_FailingPrepare.name, endpoint="telegram", payload={},
                                          synchronous=True)
        Notification.objects.filter(pk=row.pk).update(delivery=delivery)
        with pytest.raises(RuntimeError, match="prepare failed"):
            engine._claim(delivery.pk, _FailingPrepare.name)
        assert Notification.objects.get(pk=row.pk).attempts == 0
        stored = Delivery.objects.get(pk=delivery.pk)
        assert (stored.status, stored.attempts, stored.lease_expires_at) == (Delivery.Status.PENDING, 0, None)


def test_a_sync_send_written_by_send_and_never_attempted_is_sent_by_the_sweeper(
        fakes, make_recipient, settings, django_capture_on_commit_callbacks):
    """`/send` writes the engine row and the history row in one statement, then attempts in the same process.
    If the process dies in between, the engine row is pending and unclaimed: the sweeper sends it."""
    from datetime import timedelta

    from django.utils import timezone

    from communications.models import Delivery
    from delivery import engine
    from notifications.services.sending import _rows_insert

    settings.DELIVERY_SWEEP_GRACE = 0
    recipient = make_recipient("user", telegram=True)
    row = NotificationFactory.build(recipient=recipient, service="telegram", timestamp=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _rows_insert(row, synchronous=True)
    assert callbacks == []  # a synchronous row is not dispatched: the request sends it
    delivery = Delivery.objects.get(pk=row.delivery_id)
    assert (delivery.kind, delivery.status, delivery.synchronous, delivery.attempts, delivery.lease_expires_at,
            delivery.endpoint, delivery.payload) == ("notification", "pending", True, 0, None, "telegram",
                                                     {"notification": str(row.pk)})
    stored = Notification.objects.get(pk=row.pk)
    assert (stored.delivery_id, stored.status, stored.message) == (delivery.pk, "pending", row.message)

    # when: the process that wrote it is gone; the sweeper runs
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.deliveries_sweep() == 1

    # then
    stored.refresh_from_db()
    assert (stored.status, stored.http_status, stored.attempts) == ("sent", 200, 1)
    assert len(fakes["telegram"].sent_messages()) == 1


@pytest.mark.parametrize("in_transaction", [True, False])
@pytest.mark.django_db(transaction=True)
def test_a_repeated_idempotency_key_writes_neither_row(make_recipient, django_user_model, in_transaction):
    """The two rows are one statement: a history row refused by the key's constraint leaves no engine row behind,
    and a caller's transaction stays usable (a savepoint, as `atomic()` gave before)."""
    from django.db import IntegrityError, transaction

    from communications.models import Delivery
    from notifications.services.sending import _rows_insert

    caller = django_user_model.objects.create(username="notifier")
    recipient = make_recipient("user", telegram=True)

    def row():
        return NotificationFactory.build(recipient=recipient, service="telegram", requested_by=caller,
                                         idempotency_key="once")

    _rows_insert(row(), synchronous=True)
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        with pytest.raises(IntegrityError):
            _rows_insert(row(), synchronous=True)
        assert Delivery.objects.filter(kind="notification").count() == 1  # the transaction is still usable
    assert Notification.objects.count() == 1 and Delivery.objects.filter(kind="notification").count() == 1


def test_admin_resends_an_unknown_notification_on_request(fakes, make_recipient, admin_client,
                                                          django_capture_on_commit_callbacks):
    recipient = make_recipient("user", telegram=True)
    row = NotificationFactory(recipient=recipient, service="telegram", status="unknown", http_status=500, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/notifications/notification/",
                                     {"action": "resend_notifications", "_selected_action": [row.pk]}, follow=True)
    assert "Отправлено повторно: 1" in response.content.decode()
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2
    assert len(fakes["telegram"].sent_messages()) == 1
