import time

import pytest

from bots.tests.conftest import _bot_fakes, tg  # noqa: F401  shared fixtures
from communications.tests.callbacks.conftest import fake_provider, fast  # noqa: F401
from notifications.tests.conftest import _fake_servers, fakes, make_recipient, send  # noqa: F401


@pytest.fixture(autouse=True)
def _settle_background_work(request):
    """After an integration test, let the real worker finish what the test started (activation calls,
    initial sync) before the database is truncated: a TRUNCATE racing a running task deadlocks."""
    if "integration" not in request.keywords or "transactional_db" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so it is truncated after this waits
    yield
    from communications.models import Delivery, InitialSync

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        busy = (Delivery.objects.filter(status=Delivery.Status.IN_PROGRESS).exists()
                or Delivery.objects.filter(status=Delivery.Status.PENDING, attempts=0).exists()
                or InitialSync.objects.filter(status__in=InitialSync.ACTIVE_STATUSES).exists())
        if not busy:
            return
        time.sleep(0.1)
