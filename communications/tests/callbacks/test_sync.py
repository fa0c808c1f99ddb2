"""Initial sync pages on the delivery engine, without a worker: the engine's sweeper, item validation,
and a refused page."""

from datetime import timedelta

from django.utils import timezone

from communications.models import Channel, Delivery, DeliveryAttempt, InitialSync, Message
from communications.services.sync import initial_sync_resume
from communications.tests.factories import provider_setup, tenant_install
from config.testing.fake_provider import Reaction
from delivery.engine import deliveries_sweep


def _running_sync(tenant_id, django_capture_on_commit_callbacks, **fields) -> InitialSync:
    """The tenant's sync running with its page row queued (not dispatched); nothing else is queued."""
    Delivery.objects.filter(tenant_id=tenant_id).update(status=Delivery.Status.CANCELLED)  # getChannels, setWebhook
    InitialSync.objects.filter(tenant_id=tenant_id).update(status=InitialSync.Status.FAILED, **fields)
    with django_capture_on_commit_callbacks(execute=False):
        return initial_sync_resume(sync=InitialSync.objects.get(tenant_id=tenant_id))


def test_engine_sweeper_resumes_a_page_whose_worker_died_and_skips_bad_items(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: a running sync whose page row (cursor at 1) was claimed by a worker that died
    fake_provider.history = [
        {"id": "m-0", "chat": {"id": "c-1"}, "text": "уже загружено"},
        {"id": "m-1", "chat": {"id": "c-1"}, "text": "после курсора"},
        {"id": "m-2", "chat": {"id": "c-2", "channelId": "unknown-channel"}, "text": "чужой канал"},
        {"id": "m-3", "chat": {"id": "c-1"}, "text": ""},
    ]
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    Channel.objects.all().delete()
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks, cursor="1", pages_done=1)
    long_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(pk=sync.delivery_id).update(status=Delivery.Status.IN_PROGRESS, attempts=1,
                                                        lease_expires_at=long_ago)
    # when: the engine's sweeper runs (eager Celery runs the attempt inline)
    assert deliveries_sweep() == 1
    # then: the page after the cursor was imported, bad items counted, the sync completed
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.COMPLETED
    assert list(Message.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == ["m-1"]
    assert (sync.pages_done, sync.messages_seen, sync.messages_created, sync.items_failed) == (2, 3, 1, 2)
    assert "сообщение 2" in sync.last_error
    page = Delivery.objects.get(kind=Delivery.Kind.SYNC_PAGE, tenant_id=tenant_id)
    assert page.status == Delivery.Status.DELIVERED and page.payload["cursor"] == "1"
    assert list(page.attempt_log.values_list("outcome", flat=True)) == [DeliveryAttempt.Outcome.INTERRUPTED,
                                                                         DeliveryAttempt.Outcome.SUCCESS]
    # and a finished sync is left alone
    assert deliveries_sweep() == 0


def test_a_page_refused_with_4xx_fails_the_sync_with_the_providers_answer(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: the provider refuses getMessageHistory for good
    fake_provider.on("getMessageHistory", Reaction(status=422, body={"error": "cursor expired: start over"}))
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks, cursor="1", pages_done=3)
    # when: the page row is sent
    assert deliveries_sweep() == 1
    # then: one attempt (no retry of a refusal), the sync failed with the provider's answer visible
    page = Delivery.objects.get(pk=sync.delivery_id)
    assert (page.status, page.attempts, page.response_status) == (Delivery.Status.REFUSED, 1, 422)
    assert "cursor expired" in page.response_excerpt
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.FAILED
    assert sync.last_error.startswith("страница 4: HTTP 422") and "cursor expired: start over" in sync.last_error
    assert [r.json["cursor"] for r in fake_provider.requests if r.endpoint == "getMessageHistory"] == ["1"]
    # when: it is resumed once the provider is fixed: a fresh page row from the stored cursor
    fake_provider.on("getMessageHistory", None)
    fake_provider.history = [{"id": "m-0", "chat": {"id": "c-1"}, "text": "до курсора"},
                             {"id": "m-1", "chat": {"id": "c-1"}, "text": "привет"}]
    with django_capture_on_commit_callbacks(execute=True):
        initial_sync_resume(sync=sync)
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.COMPLETED
    assert list(Message.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == ["m-1"]
    pages = Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=tenant_id).order_by("pk")
    assert [(p.status, p.payload["cursor"]) for p in pages] == [(Delivery.Status.REFUSED, "1"),
                                                               (Delivery.Status.DELIVERED, "1")]
    assert sync.delivery_id == pages[1].pk  # the summary links the last page row


def test_a_page_of_an_integration_no_longer_live_cancels_the_sync(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.models import IntegrationToken

    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks)
    IntegrationToken.objects.filter(tenant_id=tenant_id).update(status=IntegrationToken.Status.DEACTIVATED)
    assert deliveries_sweep() == 1
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.CANCELLED
    assert Delivery.objects.get(pk=sync.delivery_id).status == Delivery.Status.CANCELLED
    assert not [r for r in fake_provider.requests if r.endpoint == "getMessageHistory"]


def test_a_page_over_the_answer_size_cap_fails_the_sync_naming_the_page_size(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.clients import MAX_BODY_BYTES

    # given: a page whose answer is bigger than the client reads (long texts, a large page size)
    fake_provider.history = [{"id": f"m-{n}", "chat": {"id": "c-1"}, "text": "я" * 5000}
                             for n in range(MAX_BODY_BYTES // 10_000 + 10)]
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks)
    # when: the page row is sent
    assert deliveries_sweep() == 1
    # then: refused at once (asking again gets the same answer), and the reason says what to change
    page = Delivery.objects.get(pk=sync.delivery_id)
    assert (page.status, page.attempts) == (Delivery.Status.REFUSED, 1)
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.FAILED
    assert "INITIAL_SYNC_PAGE_SIZE" in sync.last_error
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
