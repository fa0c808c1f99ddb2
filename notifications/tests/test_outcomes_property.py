"""Issue 15, property test: a receiver that cannot drop duplicates (Telegram) gets each notification at
most once, whatever it answers (2xx, 4xx, 5xx, 429, answers after the read timeout), and no notification
stays pending once it is healthy again. The provider-call half: communications/tests/deliveries/test_property.py.
"""

import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from communications.models import Delivery
from config.testing.fake_telegram import FakeTelegram
from delivery import engine
from notifications.models import Notification
from notifications.services import notification_send

READ_TIMEOUT = 0.5


@pytest.mark.django_db
@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.sampled_from(["ok", "error", "throttled", "refused", "timeout"]), max_size=6),
       count=st.integers(min_value=1, max_value=3))
def test_telegram_gets_each_notification_at_most_once_and_none_stays_pending(fakes, make_recipient, settings,
                                                                            script, count):
    fakes["telegram"].reset()
    answers = {"error": (500, {"ok": False, "error_code": 500, "description": "Internal"}),
               "throttled": FakeTelegram.too_many_requests(0),
               "refused": FakeTelegram.error(400, "Bad Request: message text is empty")}
    settings.NOTIFICATIONS_CHANNEL_TIMEOUT = READ_TIMEOUT
    for name in script:
        if name == "timeout":
            fakes["telegram"].stall_next("sendMessage", READ_TIMEOUT * 3)
        elif name != "ok":
            fakes["telegram"].fail_next("sendMessage", *answers[name])
    recipient = make_recipient("user", telegram=True)
    marker = uuid.uuid4().hex  # a stalled answer of an earlier example may still land after the reset
    # queued (the on-commit dispatch does not run here: the loop below plays the worker)
    rows = [notification_send(requested_by=None, user_id=recipient.pk, service="telegram", subject=f"s{i}",
                              type="notification", message=f"{marker}-{i}", is_async=True) for i in range(count)]
    deliveries = Delivery.objects.filter(pk__in=[r.delivery_id for r in rows])
    for _ in range(20):
        open_rows = deliveries.exclude(status__in=Delivery.FINAL_STATUSES)
        if not open_rows.exists():
            break
        open_rows.update(next_attempt_at=timezone.now())
        for delivery_id in list(open_rows.values_list("pk", flat=True)):
            engine.delivery_send(delivery_id=delivery_id)
    final = dict(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))
    assert "pending" not in final.values(), final
    texts = [m["text"] for m in fakes["telegram"].delivered]
    for i in range(count):
        assert sum(text.endswith(f"\n{marker}-{i}") for text in texts) <= 1, (script, count, texts, final)
