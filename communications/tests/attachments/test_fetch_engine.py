"""Issue 15 × 21: a fetch by URL is a row of the delivery engine (kind `attachment_fetch`): listed and retried
on the one deliveries page, and picked up by the engine's sweeper after its worker died mid-download."""

import re
import uuid

import pytest

from communications.models import Attachment, Delivery
from communications.services import attachment_fetch
from communications.tests.factories import jpeg_with_gps, message_payload, stored_files
from config.testing.processes import subprocess_env, wait_until, worker_killed_mid_call
from delivery.engine import deliveries_sweep

PAGE = "/admin/communications/delivery/all/"


def _post(api, url, message_id="m-1"):
    response = api.post("/api/v1/messages", message_payload(message_id, text="", attachments=[
        {"type": "image", "url": url, "name": "photo.jpg"}]), format="json")
    assert response.status_code == 201, response.content
    return Attachment.objects.get(message__external_id=message_id)


@pytest.mark.django_db
def test_a_failed_fetch_is_listed_and_fetched_again_from_the_deliveries_page(api, media, file_server, admin_client,
                                                                             django_capture_on_commit_callbacks):
    attachment = _post(api, file_server.url("/later.jpg"))
    assert attachment_fetch.attachment_fetch(attachment_id=attachment.pk) == "failed"  # 404: permanent
    attachment.refresh_from_db()
    assert attachment.status == "failed" and attachment.fetch.status == Delivery.Status.REFUSED
    page = admin_client.get(PAGE + "?kind=attachment_fetch").content.decode()
    assert set(re.findall(r'name="selected" value="([^"]+)"', page)) == {f"attachment_fetch:{attachment.fetch_id}"}
    # when the file is there and the moderator retries
    file_server.routes["/later.jpg"] = (200, jpeg_with_gps(), {"Content-Type": "image/jpeg"})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(PAGE, {"action": "retry", "selected": [f"attachment_fetch:{attachment.fetch_id}"]},
                                     follow=True)
    assert "Выполнено: 1" in response.content.decode()
    attachment.refresh_from_db()
    assert attachment.status == "stored" and attachment.failure_reason == "" and len(stored_files(media)) == 1


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_download_leads_to_the_file_being_stored(api, file_server, settings, tmp_path):
    queue = f"fetch-kill-{uuid.uuid4().hex[:8]}"
    settings.DELIVERY_QUEUE = queue
    settings.DELIVERY_SWEEP_GRACE = 0
    media = tmp_path / "media"
    env = subprocess_env(DELIVERY_QUEUE=queue, MEDIA_ROOT=str(media), CELERY_VISIBILITY_TIMEOUT="4",
                         PROVIDER_CONNECT_TIMEOUT="1", ATTACHMENTS_FETCH_TIMEOUT="3", DELIVERY_LEASE_MARGIN="1",
                         DELIVERY_SWEEP_GRACE="0")
    file_server.routes["/k.jpg"] = (200, jpeg_with_gps(), {"Content-Type": "image/jpeg"})
    file_server.stalls["/k.jpg"] = 20  # the first download hangs
    attachment = _post(api, file_server.url("/k.jpg"))  # committed: its fetch is published to `queue`
    # when the worker dies mid-download and a new one starts
    with worker_killed_mid_call(env, queue, tmp_path, in_flight=lambda: len(file_server.hits) == 1):
        # then, after the lease, the engine's sweeper sends it again (a GET may be repeated)
        wait_until(lambda: Attachment.objects.get(pk=attachment.pk).status != "pending", timeout=90, interval=1,
                   on_tick=deliveries_sweep)
    attachment.refresh_from_db()
    assert attachment.status == "stored", (tmp_path / "worker2.log").read_text()[-2000:]
    assert list(attachment.fetch.attempt_log.order_by("pk").values_list("outcome", flat=True)) == [
        "interrupted", "success"]
    assert len(file_server.hits) == 2 and len(stored_files(media)) == 1
