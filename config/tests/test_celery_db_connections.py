"""Celery tasks reuse their database connection as DB_CONN_MAX_AGE allows (config/celery.py), instead of the
new PostgreSQL backend per task that Celery's Django fixup would otherwise open."""

import time

import pytest
from celery import signals
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import app, ping

pytestmark = pytest.mark.django_db(transaction=True)


def run_like_the_worker(fixup):
    """What a worker does around one task: the fixup's hooks and Celery's pre/post-run signals."""
    fixup.on_task_prerun(sender=ping)
    signals.task_prerun.send(sender=ping, task_id="t", task=ping, args=(), kwargs={})
    connection.ensure_connection()
    signals.task_postrun.send(sender=ping, task_id="t", task=ping, args=(), kwargs={}, retval=None, state="SUCCESS")
    fixup.on_task_postrun(sender=ping)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 1")
        return cursor.fetchone()[0]


def test_a_connection_within_its_max_age_serves_the_next_tasks():
    # given: a worker's fixup, and a connection that may live on (DB_CONN_MAX_AGE > 0)
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60
    first = backend_pid()
    # when: three tasks run
    for _ in range(3):
        run_like_the_worker(fixup)
    # then: the same connection (the same server process) served them all
    assert connection.connection is not None and backend_pid() == first


@pytest.mark.postgres
def test_an_obsolete_connection_is_closed_after_its_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # DB_CONN_MAX_AGE passed (0: at once)
    run_like_the_worker(fixup)
    assert connection.connection is None


@pytest.mark.postgres
def test_a_connection_with_an_error_is_closed_after_its_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60
    connection.errors_occurred = True
    connection.health_check_enabled = False
    fixup.on_task_prerun(sender=ping)
    signals.task_postrun.send(sender=ping, task_id="t", task=ping, args=(), kwargs={}, retval=None, state="FAILURE")
    # an errored connection that still answers is kept (Django's rule); one that does not is closed
    assert connection.connection is not None
    connection.connection.close()  # the server side went away
    connection.errors_occurred = True
    signals.task_postrun.send(sender=ping, task_id="t", task=ping, args=(), kwargs={}, retval=None, state="FAILURE")
    assert connection.connection is None
