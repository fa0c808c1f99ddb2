"""Fixtures of the reliability and security suite; the callers and their data are built by
config.tests.reliability.callers."""

import pytest
from django.core import signals
from django.db import close_old_connections

from .callers import World, world_build


@pytest.fixture
def world(db) -> World:
    return world_build()


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """One world for a whole module of tests that only read it (or whose writes the `db` fixture rolls back).

    The world is built once inside a transaction opened for the module and rolled back after it; each
    test's `db` fixture nests its own atomic block (a savepoint) in it, so what a test writes is undone
    after the test and the next test sees the world as built.
    """
    from django.db import transaction

    with django_db_blocker.unblock():
        module_transaction = transaction.atomic()
        module_transaction.__enter__()
        try:
            world = world_build()
        except BaseException:
            transaction.set_rollback(True)
            module_transaction.__exit__(None, None, None)
            raise
    try:
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            module_transaction.__exit__(None, None, None)


@pytest.fixture
def in_process_wsgi():
    """Requests through Django's real WSGIHandler inside the test transaction.

    The handler closes "old" DB connections around each request, which would end the
    test's transaction; Django's own test client disconnects the same receivers.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def generous_throttles(monkeypatch):
    """Thousands of generated requests must not hit the (tested elsewhere) rate limits."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": "1000000/min", "anon": "1000000/min"})


@pytest.fixture
def make_recipient_with_telegram(db):
    """A recipient bound to the Telegram chat `chat_id` → its id."""
    from notifications.tests.factories import ServiceBindingFactory

    def make(chat_id: int):
        return ServiceBindingFactory(service="telegram", service_user_id=str(chat_id)).recipient.pk

    return make
