"""Issue 15: a real worker SIGKILLed mid-call, for the initial-sync page and the test-stand run.
(Provider calls and webhooks: communications/tests/deliveries/test_integration.py; notifications:
notifications/tests/test_worker_kill.py.) Both are rows of the delivery engine: once the row's lease
(set by the worker that claimed it, from its own settings) expires, the engine's sweeper picks the
work up and it finishes.
"""

import uuid

import pytest

from communications.models import ConformanceRun, Delivery, DeliveryAttempt, InitialSync, Message
from communications.tests.factories import history_messages, provider_setup, tenant_install
from config.testing.fake_provider import Reaction
from config.testing.processes import subprocess_env, wait_until, worker_killed_mid_call
from delivery.engine import deliveries_sweep

pytestmark = pytest.mark.slow  # real worker processes killed mid-call; `make test-fast` leaves them out


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_initial_sync_page_whose_worker_died_is_picked_up_by_the_sweeper(settings, fast, fake_provider, tmp_path):
    # its own queue (the session's in-process worker must not take the page); the workers' lease of a
    # page: connect + read timeout + margin = 2 + 10 + 1 s
    queue = f"sync-kill-{uuid.uuid4().hex[:8]}"
    settings.DELIVERY_QUEUE = queue
    env = subprocess_env(INITIAL_SYNC_PAGE_SIZE="50", PROVIDER_CONNECT_TIMEOUT="2", PROVIDER_READ_TIMEOUT="10",
                         DELIVERY_LEASE_MARGIN="1", DELIVERY_QUEUE=queue)
    fake_provider.history = history_messages(120)
    fake_provider.on("getMessageHistory", Reaction(delay=60))  # the first page hangs
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    # when the worker dies with the page call in flight
    with worker_killed_mid_call(env, queue, tmp_path, on_kill=lambda: fake_provider.on("getMessageHistory", None),
                                in_flight=lambda: any(r.endpoint == "getMessageHistory" for r in fake_provider.requests)):
        sync = InitialSync.objects.get(tenant_id=tenant_id)
        # then the engine's sweeper restarts its page from the cursor and it completes
        wait_until(lambda: deliveries_sweep() >= 0 and InitialSync.objects.get(
            pk=sync.pk).status == InitialSync.Status.COMPLETED, timeout=90, interval=1)
    sync.refresh_from_db()
    assert sync.messages_created == 120 and Message.objects.filter(tenant_id=tenant_id).count() == 120
    first_page = Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=tenant_id).order_by("pk")[0]
    assert list(first_page.attempt_log.values_list("outcome", flat=True)) == [
        DeliveryAttempt.Outcome.INTERRUPTED, DeliveryAttempt.Outcome.SUCCESS]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_test_stand_run_whose_worker_died_is_run_again_by_the_sweeper(settings, fast, fake_provider, tmp_path):
    from communications.services import teststand
    from communications.tests.factories import make_configuration

    queue = f"stand-kill-{uuid.uuid4().hex[:8]}"
    settings.TESTSTAND_QUEUE = queue
    # the same limits here (the run's task time limits go with the message) and in the workers (the lease:
    # budget + timeouts + margin = 10 + 2 + 5 + 6 s)
    limits = {"TESTSTAND_RUN_BUDGET": 10, "PROVIDER_CONNECT_TIMEOUT": 2, "PROVIDER_READ_TIMEOUT": 5,
              "TESTSTAND_STALE_MARGIN": 6}
    for name, value in limits.items():
        setattr(settings, name, value)
    env = subprocess_env(TESTSTAND_QUEUE=queue, **{name: str(value) for name, value in limits.items()})
    code = make_configuration(fake_provider, code=f"stand-{uuid.uuid4().hex[:6]}").provider.code
    fake_provider.stall_next(60)  # the first call of the run hangs
    run = teststand.conformance_run_start(app_code=code, app_version="1.0.0", origin="moderator")
    with worker_killed_mid_call(env, queue, tmp_path, in_flight=lambda: len(fake_provider.requests) >= 1):
        wait_until(lambda: deliveries_sweep() >= 0 and ConformanceRun.objects.get(
            pk=run.pk).status == ConformanceRun.Status.PASSED, timeout=120, interval=1)
    run.refresh_from_db()
    assert teststand.RESTARTED[:-1].lower() in run.summary.lower()
    assert list(run.delivery.attempt_log.values_list("outcome", flat=True)) == [
        DeliveryAttempt.Outcome.INTERRUPTED, DeliveryAttempt.Outcome.SUCCESS]
