"""Fixtures of the notification service's tests; the fake remotes (`fakes`), `make_recipient` and `send`
live in the root conftest.py (the observability tests use them too)."""

import pytest

from config.testing.fake_http import Receiver


@pytest.fixture
def notify(notifications_service_client, django_capture_on_commit_callbacks):
    """POST /notifications/notify; the dispatch (eager Celery) runs after the commit.

    The token is issued at call time, so it is valid under a travelled clock too.
    """
    from config.tests.factories import service_client

    def post(recipient, **fields):
        body = {"user_id": str(recipient.pk), "type": "notification", "subject": "Отчёт", "message": "Готово",
                **fields}
        client = service_client("svc-notifications", "notifications")
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/notifications/notify", body, format="json")

    return post


# --- status callbacks: a receiver of signed events and a callback URL pointing at it ---

@pytest.fixture(scope="module")
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def callback(receiver, notifications_service_client):
    receiver.reset()
    response = notifications_service_client.put("/notifications/callback",
                                                 {"callback_url": receiver.url + "/hooks/notifications"}, format="json")
    assert response.status_code == 200
    return response.json()["secret"]
