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
    """The tenant's sync running with its page row queued (not dispatched); nothing else is queued. The pages done
    were fetched too."""
    fields.setdefault("pages_fetched", fields.get("pages_done", 0))
    Delivery.objects.filter(tenant_id=tenant_id).update(status=Delivery.Status.CANCELLED)  # getChannels, setWebhook
    InitialSync.objects.filter(tenant_id=tenant_id).update(status=InitialSync.Status.FAILED, **fields)
    with django_capture_on_commit_callbacks(execute=False):
        return initial_sync_resume(sync=InitialSync.objects.get(tenant_id=tenant_id))


def _synced(fake_provider, capture, history: list[dict], *, fetched: bool = True) -> tuple:
    """A running sync of `history` (no channels): (tenant id, provider, sync), with its first page fetched — the
    answer kept, its import queued, not dispatched — when `fetched`."""
    fake_provider.history = history
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    Channel.objects.all().delete()
    sync = _running_sync(tenant_id, capture)
    if fetched:
        with capture(execute=False):
            assert deliveries_sweep() == 1
    return tenant_id, provider, sync


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
    # when: the engine's sweeper runs (eager Celery runs the attempt, then the page's import, inline)
    with django_capture_on_commit_callbacks(execute=True):
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
    assert "обработчик" not in sync.last_error  # no hook failed on the way (on_refused once crashed on a 4xx)
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


def _long_history(count: int, text_bytes: int) -> list[dict]:
    return [{"id": f"m-{n}", "chat": {"id": "c-1"}, "text": "x" * text_bytes} for n in range(count)]


def _history_calls(fake_provider) -> list[tuple]:
    return [(r.json["cursor"], r.json["limit"]) for r in fake_provider.requests if r.endpoint == "getMessageHistory"]


def test_an_answer_over_the_cap_is_asked_again_with_half_the_limit_which_later_pages_keep(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: pages of 8 messages of ~3 KB are over a 20 KB cap, pages of 4 are not
    fast.INITIAL_SYNC_PAGE_SIZE, fast.INITIAL_SYNC_MIN_PAGE_SIZE, fast.INITIAL_SYNC_MAX_ANSWER_BYTES = 8, 2, 20_000
    fake_provider.history = _long_history(10, 3000)
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks)
    # when: the page row is sent (eager Celery sends the pages it queues, in order)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    # then: the first page asked again at the same cursor with limit 4, which the later pages keep
    assert _history_calls(fake_provider) == [(None, 8), (None, 4), ("4", 4), ("8", 4)]
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.COMPLETED
    assert (sync.pages_done, sync.messages_seen, sync.messages_created, sync.items_failed) == (3, 10, 10, 0)
    assert list(Message.objects.filter(tenant_id=tenant_id).order_by("pk").values_list("external_id", flat=True)) \
        == [f"m-{n}" for n in range(10)]
    pages = Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=tenant_id).order_by("pk")
    assert [(p.status, p.payload["page"], p.payload["cursor"], p.payload["limit"]) for p in pages] == [
        (Delivery.Status.REFUSED, 0, "", 8), (Delivery.Status.DELIVERED, 0, "", 4),
        (Delivery.Status.DELIVERED, 1, "4", 4), (Delivery.Status.DELIVERED, 2, "8", 4)]
    assert pages[0].last_error == "ответ getMessageHistory больше 19 КБ при limit 8: запрошена снова с limit 4"
    assert pages[0].attempts == 1  # refused at once: the same question gets the same answer
    assert sync.delivery_id == pages[3].pk


def test_an_answer_over_the_cap_at_the_minimum_page_fails_the_sync_naming_the_settings(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: even the minimum page (3 messages of ~10 KB) is over a 20 KB cap
    fast.INITIAL_SYNC_PAGE_SIZE, fast.INITIAL_SYNC_MIN_PAGE_SIZE, fast.INITIAL_SYNC_MAX_ANSWER_BYTES = 12, 3, 20_000
    fake_provider.history = _long_history(20, 10_000)
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks, cursor="5", pages_done=2)
    # when: the page row is sent
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    # then: 12 → 6 → 3 at the same cursor, then the sync fails with a reason that names what to change
    assert _history_calls(fake_provider) == [("5", 12), ("5", 6), ("5", 3)]
    pages = Delivery.objects.filter(kind=Delivery.Kind.SYNC_PAGE, tenant_id=tenant_id).order_by("pk")
    assert [(p.status, p.attempts, p.payload["page"], p.payload["limit"]) for p in pages] == [
        (Delivery.Status.REFUSED, 1, 2, 12), (Delivery.Status.REFUSED, 1, 2, 6), (Delivery.Status.REFUSED, 1, 2, 3)]
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.FAILED
    assert sync.last_error.startswith("страница 3: ответ getMessageHistory больше 19 КБ и при limit 3")
    assert "INITIAL_SYNC_MAX_ANSWER_BYTES" in sync.last_error and "INITIAL_SYNC_MIN_PAGE_SIZE" in sync.last_error
    assert (sync.cursor, sync.pages_done, sync.delivery_id) == ("5", 2, pages[2].pk)
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
    # when: resumed after the cap was raised: from the stored cursor with the full page size again
    fast.INITIAL_SYNC_MAX_ANSWER_BYTES = 1024 * 1024
    with django_capture_on_commit_callbacks(execute=True):
        initial_sync_resume(sync=sync)
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.COMPLETED and sync.messages_created == 15
    assert _history_calls(fake_provider)[3:] == [("5", 12), ("17", 12)]


def test_a_history_answer_over_the_clients_usual_cap_but_under_its_own_is_imported(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.clients import MAX_BODY_BYTES

    # given: one page bigger than the 1 MiB every other provider call may answer; the history's cap is 8 MiB
    assert fast.INITIAL_SYNC_MAX_ANSWER_BYTES == 8 * MAX_BODY_BYTES
    fast.INITIAL_SYNC_PAGE_SIZE = 300
    fake_provider.history = _long_history(250, 5000)
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    sync = _running_sync(tenant_id, django_capture_on_commit_callbacks)
    # when: the page row is sent (and its import, on commit)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    # then: one call, the whole page imported
    assert _history_calls(fake_provider) == [(None, 300)]
    sync.refresh_from_db()
    assert (sync.status, sync.messages_created) == (InitialSync.Status.COMPLETED, 250)


def test_an_import_that_ends_without_loading_its_page_fails_the_sync_and_resume_loads_the_kept_answer(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.models import InitialSyncPage
    from delivery import engine

    # given: a running sync whose only page was fetched: the answer is kept, its import queued
    tenant_id, _, sync = _synced(fake_provider, django_capture_on_commit_callbacks, [
        {"id": "m-0", "chat": {"id": "c-1"}, "text": "первое"}, {"id": "m-1", "chat": {"id": "c-1"}, "text": "второе"}])
    kept = InitialSyncPage.objects.get(sync=sync)
    # when: a moderator cancels the import
    engine.delivery_cancel(delivery_id=kept.delivery_id)
    # then: the sync stops as failed, naming the page's import; the answer is still kept
    sync.refresh_from_db()
    assert sync.status == InitialSync.Status.FAILED
    assert sync.last_error.startswith("страница 1 (загрузка): отменена модератором")
    assert (sync.fetched_all, sync.pages_fetched, sync.pages_done) == (True, 1, 0)
    assert not Message.objects.filter(tenant_id=tenant_id).exists() and InitialSyncPage.objects.filter(pk=kept.pk)
    # when: it is resumed
    with django_capture_on_commit_callbacks(execute=True):
        initial_sync_resume(sync=sync)
    # then: the kept answer is loaded by a fresh import; the provider was not asked again
    sync.refresh_from_db()
    assert (sync.status, sync.pages_done, sync.messages_created) == (InitialSync.Status.COMPLETED, 1, 2)
    assert sorted(Message.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == ["m-0", "m-1"]
    assert not InitialSyncPage.objects.filter(sync=sync).exists()
    assert _history_calls(fake_provider) == [(None, fast.INITIAL_SYNC_PAGE_SIZE)]
    imports = Delivery.objects.filter(kind=Delivery.Kind.SYNC_IMPORT, tenant_id=tenant_id).order_by("pk")
    assert [d.status for d in imports] == [Delivery.Status.CANCELLED, Delivery.Status.DELIVERED]


def test_a_sync_restarted_or_cancelled_drops_the_answers_it_kept(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.models import InitialSyncPage, TenantConfiguration
    from communications.services.sync import initial_sync_prepare, integration_farewell

    # given: a failed sync with a fetched page whose import did not run
    tenant_id, provider, sync = _synced(fake_provider, django_capture_on_commit_callbacks,
                                        [{"id": "m-0", "chat": {"id": "c-1"}, "text": "первое"}])
    InitialSync.objects.filter(pk=sync.pk).update(status=InitialSync.Status.FAILED)
    kept = InitialSyncPage.objects.get(sync=sync)
    # when: the sync starts over (a new activation)
    tenant_configuration = TenantConfiguration.objects.get(tenant_id=tenant_id, provider=provider)
    with django_capture_on_commit_callbacks(execute=False):
        sync = initial_sync_prepare(tenant_configuration=tenant_configuration)
    # then: the earlier run's answer is gone, and its import stops without loading anything
    assert (sync.run, sync.pages_fetched, sync.fetched_all) == (2, 0, False)
    assert not InitialSyncPage.objects.filter(sync=sync).exists()
    with django_capture_on_commit_callbacks(execute=False):
        assert _import_send(kept.delivery_id) == "refused"
    assert not Message.objects.filter(tenant_id=tenant_id).exists()
    assert InitialSync.objects.get(pk=sync.pk).status == InitialSync.Status.WAITING
    # when: a page is kept again and the integration is switched off
    with django_capture_on_commit_callbacks(execute=False):
        initial_sync_resume(sync=sync)
        assert deliveries_sweep() == 1
    assert InitialSyncPage.objects.filter(sync=sync).count() == 1
    integration_farewell(tenant_configuration=tenant_configuration, reason="app_disabled")
    # then: the kept answer is dropped with the cancelled sync
    assert not InitialSyncPage.objects.filter(sync=sync).exists()
    assert InitialSync.objects.get(pk=sync.pk).status == InitialSync.Status.CANCELLED


def _import_send(delivery_id: int) -> str:
    from delivery import engine

    return engine.delivery_send(delivery_id=delivery_id, kind=Delivery.Kind.SYNC_IMPORT)


def test_resuming_a_sync_whose_kept_answer_is_gone_starts_it_over(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: a failed sync past two fetched pages, one loaded and the other's kept answer pruned with its import row
    tenant_id, _, sync = _synced(fake_provider, django_capture_on_commit_callbacks,
                                 [{"id": "m-0", "chat": {"id": "c-1"}, "text": "первое"}], fetched=False)
    Delivery.objects.filter(pk=sync.delivery_id).update(status=Delivery.Status.DEAD)
    InitialSync.objects.filter(pk=sync.pk).update(status=InitialSync.Status.FAILED, cursor="2", pages_fetched=2,
                                                  pages_done=1)
    # when: it is resumed
    with django_capture_on_commit_callbacks(execute=True):
        initial_sync_resume(sync=InitialSync.objects.get(pk=sync.pk))
    # then: it read the history from the first page again, as a new run
    sync.refresh_from_db()
    assert (sync.status, sync.run, sync.pages_fetched, sync.messages_created) == (
        InitialSync.Status.COMPLETED, 2, 1, 1)
    assert [call[0] for call in _history_calls(fake_provider)] == [None]


def test_pages_imported_out_of_order_keep_the_historys_order(
        db, fast, fake_provider, django_capture_on_commit_callbacks):
    from communications.models import InitialSyncPage
    from delivery import engine

    # given: two pages fetched, their imports queued
    fast.INITIAL_SYNC_PAGE_SIZE = 2
    tenant_id, _, sync = _synced(fake_provider, django_capture_on_commit_callbacks, [
        {"id": f"m-{n}", "chat": {"id": "c-1"}, "text": f"сообщение {n}"} for n in range(4)], fetched=False)
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(2):
            assert engine.delivery_send(delivery_id=sync.delivery_id, kind="sync_page") == "delivered"
            sync.refresh_from_db()
        # when: the second page is imported before the first
        for page in InitialSyncPage.objects.filter(sync=sync).order_by("-page"):
            assert _import_send(page.delivery_id) == "delivered"
    # then: the messages were received in the history's order (when their page was fetched)
    sync.refresh_from_db()
    assert (sync.status, sync.messages_created) == (InitialSync.Status.COMPLETED, 4)
    assert list(Message.objects.filter(tenant_id=tenant_id).order_by("created_at", "id")
                .values_list("external_id", flat=True)) == ["m-0", "m-1", "m-2", "m-3"]
