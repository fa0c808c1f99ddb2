"""Initial sync pieces that need no worker: the sweeper and item validation."""

from datetime import timedelta

from django.utils import timezone

from communications.models import Channel, InitialSync, Message
from communications.services.sync import initial_syncs_sweep
from communications.tests.callbacks.conftest import provider_setup, tenant_install


def test_sweeper_resumes_a_sync_whose_worker_died_and_skips_bad_items(db, fast, fake_provider):
    # given: a running sync left behind by a dead worker (cursor at 1, nothing recent)
    fake_provider.history = [
        {"id": "m-0", "chat": {"id": "c-1"}, "text": "уже загружено"},
        {"id": "m-1", "chat": {"id": "c-1"}, "text": "после курсора"},
        {"id": "m-2", "chat": {"id": "c-2", "channelId": "unknown-channel"}, "text": "чужой канал"},
        {"id": "m-3", "chat": {"id": "c-1"}, "text": ""},
    ]
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    Channel.objects.all().delete()
    long_ago = timezone.now() - timedelta(hours=1)
    InitialSync.objects.filter(tenant_id=tenant_id).update(status=InitialSync.Status.RUNNING, cursor="1",
                                                           pages_done=1, next_attempt_at=long_ago,
                                                           updated_at=long_ago)
    # when: the beat sweeper runs (eager Celery runs the page task inline)
    assert initial_syncs_sweep() == 1
    # then: the page after the cursor was imported, bad items counted, the sync completed
    sync = InitialSync.objects.get(tenant_id=tenant_id)
    assert sync.status == InitialSync.Status.COMPLETED
    assert list(Message.objects.filter(tenant_id=tenant_id).values_list("external_id", flat=True)) == ["m-1"]
    assert (sync.pages_done, sync.messages_seen, sync.messages_created, sync.items_failed) == (2, 3, 1, 2)
    assert "сообщение 2" in sync.last_error
    # and a recent or finished sync is left alone
    assert initial_syncs_sweep() == 0
