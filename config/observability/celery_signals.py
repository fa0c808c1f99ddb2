"""Celery signal handlers: request id in task headers, logging, task metrics, heartbeats.

Imported once from config/celery.py; every process that loads the Celery app connects them.
"""

import os
import time

from celery import bootsteps, signals

from config.observability.heartbeat import heartbeat_touch
from config.observability.metrics import task_observe
from config.observability.request_id import (
    request_id_clean,
    request_id_get,
    request_id_new,
    request_id_reset,
    request_id_set,
)

HEADER = "request_id"
_tokens: dict[str, object] = {}  # task id → context token, reset after the task
_started: dict[str, float] = {}  # task id → time.monotonic() at prerun


@signals.before_task_publish.connect(weak=False)
def _publish_request_id(headers=None, **kwargs):
    """Every task sent while a request (or a task) runs carries its request id."""
    current = request_id_get()
    if headers is not None and current:
        headers.setdefault(HEADER, current)


@signals.task_prerun.connect(weak=False)
def _adopt_request_id(task_id=None, task=None, **kwargs):
    # From the message headers; an eager task runs inline and keeps the caller's id; else a fresh one.
    value = request_id_clean(task.request.get(HEADER)) or request_id_get() or request_id_new()
    _tokens[task_id] = request_id_set(value)
    _started[task_id] = time.monotonic()


@signals.task_postrun.connect(weak=False)
def _drop_request_id(task_id=None, task=None, state=None, **kwargs):
    started = _started.pop(task_id, None)
    task_observe(task=task.name, state=state or "UNKNOWN",
                 seconds=None if started is None else time.monotonic() - started)
    token = _tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id_reset(token)
        except ValueError:  # set in another context (should not happen); the next prerun overwrites it
            pass


@signals.setup_logging.connect(weak=False)
def _keep_django_logging(loglevel=None, **kwargs):
    """Connected, Celery leaves logging alone: the worker and beat log through settings.LOGGING
    (request id in every line, LOG_FORMAT=json) like the web processes, at `--loglevel`."""
    import logging
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


# --- beat sweepers and heartbeats (config/observability/beat.py, heartbeat.py) ---------------

_scheduled: tuple[object, frozenset] = (None, frozenset())  # (the beat schedule, its task names)


@signals.task_success.connect(weak=False)
def _record_sweeper_success(sender=None, **kwargs):
    """Only the tasks of the beat schedule are recorded; its names are read once per schedule object,
    not for every task."""
    global _scheduled
    from django.conf import settings

    schedule = settings.CELERY_BEAT_SCHEDULE
    if _scheduled[0] is not schedule:
        _scheduled = (schedule, frozenset(entry.get("task") for entry in schedule.values()))
    if sender.name in _scheduled[1]:
        from config.observability.beat import sweeper_success_record

        sweeper_success_record(sender.name)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Touches $HEARTBEAT_DIR/worker from the worker's own timer (its event loop under prefork)."""

    requires = {"celery.worker.components:Timer"}
    interval = 10.0

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        heartbeat_touch("worker")
        self.tref = worker.timer.call_repeatedly(self.interval, heartbeat_touch, ("worker",), priority=10)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()


@signals.worker_init.connect(weak=False)
def _add_worker_heartbeat(sender=None, **kwargs):
    sender.app.steps["worker"].add(WorkerHeartbeat)


# --- metrics in worker processes (docs/operations.md) -----------------------------------------

@signals.worker_init.connect(weak=False)
def _start_metrics_exporter(sender=None, **kwargs):
    """Wipe this worker's multiprocess directory and serve its metrics on METRICS_PORT (if set)."""
    from config.observability.exporter import metrics_process_start

    metrics_process_start()


@signals.worker_process_shutdown.connect(weak=False)
def _mark_child_dead(pid=None, **kwargs):
    from config.observability.exporter import multiproc_process_dead

    multiproc_process_dead(pid or os.getpid())

