from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver", ignore_result=True)
def notification_deliver_task(notification_id: str) -> None:
    """One delivery attempt; the service re-enqueues itself with a countdown on transient errors."""
    services.notification_deliver(notification_id=notification_id)


@shared_task(name="notifications.sweep", ignore_result=True)
def notifications_sweep_task() -> int:
    return services.notifications_sweep()


from notifications.tasks_notify import notify_dispatch_task, notify_due_task, status_callback_task  # noqa: E402,F401
