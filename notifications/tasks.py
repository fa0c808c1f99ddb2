from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver", ignore_result=True)
def notification_deliver_task(notification_id: str) -> None:
    """Kept for tasks queued before sends moved onto the delivery engine (`communications.delivery_send`)."""
    services.notification_deliver(notification_id=notification_id)


from notifications.tasks_notify import notify_dispatch_task, notify_due_task, status_callback_task  # noqa: E402,F401
