"""Celery tasks of `notify` and its status callbacks (imported by notifications/tasks.py)."""

from celery import shared_task

from notifications.services.notify import notify_dispatch, notify_due


@shared_task(name="notifications.notify_dispatch", ignore_result=True)
def notify_dispatch_task(notify_id: str) -> None:
    notify_dispatch(notify_id=notify_id)


@shared_task(name="notifications.notify_due", ignore_result=True)
def notify_due_task() -> int:
    return notify_due()


@shared_task(name="notifications.status_callback", ignore_result=True)
def status_callback_task(notify_id: str, event: str) -> None:
    """Kept for messages queued before status events moved onto the delivery engine: queue it there."""
    from notifications.models import NotifyRequest
    from notifications.services.callbacks import status_event_enqueue

    notify = NotifyRequest.objects.filter(pk=notify_id).first()
    if notify is not None:
        status_event_enqueue(notify=notify, event=event)
