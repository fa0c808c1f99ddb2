"""Issue 15: a real worker SIGKILLed in the middle of a notification send.

The send is a row of the delivery engine. Telegram cannot drop a repeat: once the lease is over, the engine
records `unknown` and sends nothing more. VK drops a repeat by
`random_id`: the sweeper sends it again and it is delivered once.
"""


import pytest
from django.db import transaction

from config.testing.processes import subprocess_env, wait_until, worker_killed_mid_call
from delivery.engine import deliveries_sweep
from notifications.models import Notification
from notifications.services import notification_send

pytestmark = pytest.mark.slow  # real worker processes killed mid-call; `make test-fast` leaves them out


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("service,expected", [("telegram", "unknown"), ("vk", "sent")])
def test_worker_killed_mid_send(fakes, make_recipient, settings, tmp_path, service, expected):
    settings.DELIVERY_SWEEP_GRACE = 0
    fake = fakes[service]
    method = "sendMessage" if service == "telegram" else "messages.send"
    fake.stall_next(method, 30)
    env = subprocess_env(TELEGRAM_BOT_TOKEN=settings.TELEGRAM_BOT_TOKEN,
                         TELEGRAM_API_BASE_URL=settings.TELEGRAM_API_BASE_URL, VK_GROUP_TOKEN=settings.VK_GROUP_TOKEN, VK_API_BASE_URL=settings.VK_API_BASE_URL,
                         NOTIFICATIONS_CHANNEL_TIMEOUT="2", DELIVERY_SWEEP_GRACE="0", REDIS_URL="")
    recipient = make_recipient("user", **{service: True})
    with transaction.atomic():
        row = notification_send(requested_by=None, user_id=recipient.pk, service=service, subject="s",
                                type="notification", message="m", is_async=True)
    # when the worker dies with the call in flight
    with worker_killed_mid_call(env, "celery", tmp_path, in_flight=lambda: len(fake.calls(method)) == 1,
                                drop_queue=False):
        # then, once its lease is over, the sweeper decides by the channel
        wait_until(lambda: Notification.objects.get(pk=row.pk).status != "pending", timeout=90, interval=0.5,
                   on_tick=deliveries_sweep)
    row.refresh_from_db()
    assert row.status == expected
    if service == "telegram":
        assert len(fake.calls(method)) == 1  # never sent again on its own
    else:
        assert len(fake.calls(method)) == 2
        random_ids = {call.params["random_id"] for call in fake.calls(method)}
        assert len(random_ids) == 1  # VK drops the repeat
