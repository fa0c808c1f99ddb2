"""Celery tasks of `notify` and its status callbacks (imported by notifications/tasks.py)."""

from celery import shared_task

from notifications.services.callbacks import CallbackRetry, status_event_send
from notifications.services.notify import notify_dispatch, notify_due


@shared_task(name="notifications.notify_dispatch", ignore_result=True)
def notify_dispatch_task(notify_id: str) -> None:
    notify_dispatch(notify_id=notify_id)


@shared_task(name="notifications.notify_due", ignore_result=True)
def notify_due_task() -> int:
    return notify_due()


@shared_task(name="notifications.status_callback", ignore_result=True, autoretry_for=(CallbackRetry,),
             max_retries=8, retry_backoff=2, retry_backoff_max=600, retry_jitter=True)
def status_callback_task(notify_id: str, event: str) -> None:
    status_event_send(notify_id=notify_id, event=event)
