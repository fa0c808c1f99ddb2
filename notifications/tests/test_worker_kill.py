"""Issue 15: a real worker SIGKILLed in the middle of a notification send.

The send is a row of the delivery engine. Telegram cannot drop a repeat: once the lease is over, the engine
records `unknown` and sends nothing more. VK drops a repeat by
`random_id`: the sweeper sends it again and it is delivered once.
"""

import os
import signal
import time

import pytest
from django.db import transaction

from config.testing.processes import start_worker_process, stop_worker_processes, subprocess_env
from delivery.engine import deliveries_sweep
from notifications.models import Notification
from notifications.services import notification_send


def _wait(predicate, timeout=60.0, on_tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if on_tick:
            on_tick()
        time.sleep(0.5)
    return False


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
    workers = [start_worker_process(env, "celery", tmp_path / "worker1.log")]
    try:
        assert _wait(lambda: len(fake.calls(method)) == 1), (tmp_path / "worker1.log").read_text()[-2000:]
        # when the worker dies with the call in flight
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        workers.append(start_worker_process(env, "celery", tmp_path / "worker2.log"))
        # then, once its lease is over, the sweeper decides by the channel
        assert _wait(lambda: Notification.objects.get(pk=row.pk).status != "pending", timeout=90,
                     on_tick=deliveries_sweep)
    finally:
        stop_worker_processes(workers)
    row.refresh_from_db()
    assert row.status == expected
    if service == "telegram":
        assert len(fake.calls(method)) == 1  # never sent again on its own
    else:
        assert len(fake.calls(method)) == 2
        random_ids = {call.params["random_id"] for call in fake.calls(method)}
        assert len(random_ids) == 1  # VK drops the repeat
