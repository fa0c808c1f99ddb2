"""The connection health check without a round trip (config/postgresql): a live connection is found usable
without a statement reaching the server; one the server ended is found unusable, closed, and replaced."""

import time

import pytest
from django.db import connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own():
    """A connection of its own (the test's `default` is the observer), closed at the end."""
    wrapper = connections.create_connection("default")
    wrapper.health_check_enabled = True
    yield wrapper
    wrapper.close()


def run(wrapper, sql: str):
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def last_statement(pid: int) -> str:
    """What the server says the backend ran last (seen from the test's own connection)."""
    return run(connections["default"], f"SELECT query FROM pg_stat_activity WHERE pid = {int(pid)}")[0]


@pytest.mark.postgres
def test_a_live_connection_is_usable_without_a_statement(own):
    # given: a connection whose last statement is known to the server
    pid = run(own, "SELECT pg_backend_pid()")[0]
    run(own, "SELECT 'health-check-marker'")
    # when: Django checks it before a request's first query
    own.health_check_done = False
    own.close_if_health_check_failed()
    # then: it stays open, and nothing reached the server (Django's own check runs SELECT 1)
    assert own.connection is not None and own.is_usable()
    assert last_statement(pid) == "SELECT 'health-check-marker'"


def test_a_connection_the_server_ended_is_closed_and_replaced(own):
    pid = run(own, "SELECT pg_backend_pid()")[0]
    # when: the server ends the backend (a restart, an administrator, idle_session_timeout)
    assert run(connections["default"], f"SELECT pg_terminate_backend({int(pid)})")[0] is True
    for _ in range(100):  # the backend's goodbye reaches the socket
        if run(connections["default"], f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(pid)}")[0] == 0:
            break
        time.sleep(0.02)
    # then: the check finds it unusable, the request's first query gets a new connection and works
    assert own.is_usable() is False
    own.health_check_done = False
    own.close_if_health_check_failed()
    assert own.connection is None
    assert run(own, "SELECT pg_backend_pid()")[0] != pid


def test_a_connection_in_a_failed_transaction_is_asked(own):
    # given: a transaction left failed (the fast check only trusts an idle connection in autocommit)
    own.ensure_connection()
    own.connection.autocommit = False
    with pytest.raises(Exception):  # noqa: B017, PT011 (psycopg's error for the division)
        own.connection.execute("SELECT 1 / 0")
    # then: Django's SELECT 1 answers, and it fails there
    assert own.is_usable() is False
    own.connection.rollback()
    assert own.is_usable() is True
