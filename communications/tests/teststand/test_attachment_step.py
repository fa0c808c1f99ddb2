"""Issue 21: the test stand's «sendMessage с вложением» step, for configurations that declare attachments."""

import hashlib
import uuid

import pytest
from django.core.files.storage import default_storage

from communications.models import Attachment, ConformanceRun, ProviderConfiguration, SandboxTenant
from communications.provider_contract import EXAMPLE_REQUESTS_WITH_ATTACHMENTS
from communications.services import teststand as services
from communications.tests.factories import make_configuration, shape, verdicts
from communications.teststand import payloads
from config.testing.fake_provider import Reaction
from config.testing.s3 import MotoS3

OK = "ok"
STEP = payloads.ATTACHMENT_STEP
ORDER = [("getChannels", False), ("sendMessage", False), ("sendMessage", True), ("sendMessage", False),
         ("updateMessageContent", False), ("updateMessageStatus", False), ("markChatRead", False),
         ("setWebhook", False), ("getMessageHistory", False), ("bulkMessages", False), ("bulkMessages", True),
         ("deleteWebhook", False), ("disconnect", False)]


def _capable(fake, **capabilities) -> ProviderConfiguration:
    configuration = make_configuration(fake)
    configuration.capabilities = capabilities or {"attachments": True}
    configuration.save(update_fields=["capabilities"])
    return configuration


def _with_attachments(fake):
    return [r for r in fake.requests if r.endpoint == "sendMessage" and r.json.get("attachments")]


def test_capable_provider_gets_a_signed_sample_it_can_download_with_the_same_checksum(
        transactional_db, live_server, settings, stand, conformant, run_now):
    # given: a provider that declares attachments and downloads every file before it answers;
    # signed links point at a live server of this very code (the local storage, GET /api/v1/files/<token>)
    settings.COMMUNICATIONS_PUBLIC_API_URL = f"{live_server.url}/api/v1/"
    conformant.fetch_attachments = True
    _capable(conformant)
    # when
    run = run_now()
    # then: one more sendMessage right after sendMessage and its repeat, and it passed
    assert run.status == ConformanceRun.Status.PASSED, verdicts(run)
    assert verdicts(run) == [(name, repeat, OK) for name, repeat in ORDER]
    assert run.summary == "Все эндпоинты ответили по контракту."
    check = run.checks.get(position=4)
    assert check.reason.startswith(f"{STEP}: HTTP 200") and "соответствует контракту" in check.reason
    # the call carries the attachment shaped exactly as real sendMessage calls carry theirs
    [call] = _with_attachments(conformant)
    assert call.json == check.request_body
    [item] = call.json["attachments"]
    documented = EXAMPLE_REQUESTS_WITH_ATTACHMENTS["sendMessage"]
    assert set(call.json) == set(documented) - {"replyTo"}  # the stand quotes nothing
    assert shape(item) == shape(documented["attachments"][0])
    sample = payloads.sample_file()
    assert (item["type"], item["name"], item["mimeType"], item["size"]) == (
        "image", payloads.SAMPLE_NAME, "image/png", len(sample))
    assert item["checksum"] == hashlib.sha256(sample).hexdigest()
    assert item["url"].startswith(f"{live_server.url}/api/v1/files/")
    assert call.json["clientMessageId"] == f"crm-teststand-{run.pk}-4"
    # and the provider fetched the signed URL: the same bytes, the same checksum
    [fetched] = conformant.fetched
    assert fetched.url == item["url"] and fetched.status == 200 and fetched.matches
    assert fetched.checksum == item["checksum"] and fetched.size == len(sample)
    # a later run reuses the stored sample (one file, one row)
    assert run_now().status == ConformanceRun.Status.PASSED
    assert Attachment.objects.count() == 1 and len(conformant.fetched) == 2 and conformant.fetched[1].matches


@pytest.fixture
def s3_storage(settings):
    """Attachment files in a fresh bucket of moto's standalone S3 server (the production backend)."""
    with MotoS3() as s3:
        bucket = f"stand-{uuid.uuid4().hex[:8]}"
        s3.client().create_bucket(Bucket=bucket)
        settings.STORAGES = s3.storages(settings.STORAGES, bucket=bucket)
        yield s3, bucket


@pytest.mark.django_db
def test_with_s3_storage_the_provider_downloads_the_sample_from_a_presigned_url(stand, conformant, run_now,
                                                                              s3_storage):
    # given
    s3, bucket = s3_storage
    conformant.fetch_attachments = True
    _capable(conformant)
    # when
    run = run_now()
    # then: the sample is an object of the bucket, and the provider got its presigned URL and the same bytes
    assert run.status == ConformanceRun.Status.PASSED, verdicts(run)
    [item] = _with_attachments(conformant)[0].json["attachments"]
    assert item["url"].startswith(f"{s3.endpoint}/{bucket}/attachments/") and "X-Amz-Signature=" in item["url"]
    [fetched] = conformant.fetched
    assert fetched.matches and fetched.checksum == hashlib.sha256(payloads.sample_file()).hexdigest()
    key = Attachment.objects.get().file.name
    assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == payloads.sample_file()


@pytest.mark.django_db
@pytest.mark.parametrize("capabilities, note", [
    ({}, "конфигурация не объявляет поддержку вложений (capabilities.attachments)"),
    ({"attachments": False}, "конфигурация не объявляет поддержку вложений (capabilities.attachments)"),
    ({"attachments": True, "attachmentTypes": ["video", "location"]}, "ни как image, ни как file, ни как sticker"),
    ({"attachments": True, "maxAttachmentBytes": 10}, "capabilities.maxAttachmentBytes"),
])
def test_without_the_capability_there_is_no_attachment_step_and_the_summary_says_so(
        stand, conformant, run_now, capabilities, note):
    # given
    configuration = make_configuration(conformant)
    configuration.capabilities = capabilities
    configuration.save(update_fields=["capabilities"])
    # when
    run = run_now()
    # then: sendMessage once (+ repeat), no call with attachments, nothing stored; the summary explains why
    assert run.status == ConformanceRun.Status.PASSED, verdicts(run)
    assert [(e, r) for e, r, _ in verdicts(run)].count(("sendMessage", False)) == 1
    assert not _with_attachments(conformant) and not Attachment.objects.exists()
    assert run.summary.startswith(f"Все эндпоинты ответили по контракту. Шаг «{STEP}» не выполнялся: ")
    assert note in run.summary


@pytest.mark.django_db
def test_the_sample_goes_as_the_first_type_the_configuration_accepts(stand, conformant, run_now):
    _capable(conformant, attachments=True, attachmentTypes=["file", "location"])
    run = run_now()
    assert run.status == ConformanceRun.Status.PASSED, verdicts(run)
    [call] = _with_attachments(conformant)
    assert call.json["attachments"][0]["type"] == "file"


@pytest.mark.django_db
def test_an_error_answer_to_the_attachment_call_fails_the_step_with_a_clear_reason(stand, broken, run_now):
    # given: a provider that declares attachments but refuses every call carrying one
    _capable(broken)
    broken.on_attachments(Reaction(status=415, body={"error": "attachments are not supported"}))
    # when
    run = run_now()
    # then: only the attachment step fails; the reason names the step, the answer and what to do
    assert run.status == ConformanceRun.Status.FAILED
    [failing] = run.checks.exclude(verdict=OK)
    assert (failing.position, failing.endpoint, failing.verdict) == (4, "sendMessage", "bad_status")
    assert failing.reason.startswith(f"{STEP}: HTTP 415 вместо 2xx: ") and "attachments are not supported" in failing.reason
    assert "уберите capabilities.attachments" in failing.reason
    assert failing.request_body["attachments"][0]["checksum"] == hashlib.sha256(payloads.sample_file()).hexdigest()
    assert run.summary == f"Не пройдены: {STEP}."


@pytest.mark.django_db
def test_a_provider_that_cannot_download_the_file_refuses_it_and_the_step_fails(settings, stand, broken, run_now):
    # given: the signed link points where nothing answers; the provider downloads before answering
    settings.COMMUNICATIONS_PUBLIC_API_URL = "http://127.0.0.1:9/api/v1/"
    broken.fetch_attachments = True
    _capable(broken)
    # when
    run = run_now()
    # then: the fake answered 422 (it could not fetch the file), and that is the step's verdict
    [failing] = run.checks.exclude(verdict=OK)
    assert failing.reason.startswith(f"{STEP}: HTTP 422 вместо 2xx: ") and "attachment_unavailable" in failing.reason
    [fetched] = broken.fetched
    assert fetched.status == 0 and not fetched.matches


@pytest.mark.django_db
def test_the_sample_is_stored_once_and_again_when_its_file_is_gone(stand, conformant):
    # given: the provider's sandbox tenant
    provider = make_configuration(conformant).provider
    tenant_id = services.sandbox_tenant_get_or_create(provider=provider).tenant_id
    # when
    first = services.stand_sample_attachment(provider=provider, tenant_id=tenant_id, kind="image")
    again = services.stand_sample_attachment(provider=provider, tenant_id=tenant_id, kind="image")
    as_file = services.stand_sample_attachment(provider=provider, tenant_id=tenant_id, kind="file")
    # then: one row per kind, in the sandbox tenant, under a random name, with the sample's checksum
    assert again.pk == first.pk != as_file.pk
    assert first.tenant_id == SandboxTenant.objects.get(provider=provider).tenant_id
    assert first.file.name.startswith(f"attachments/{tenant_id}/") and payloads.SAMPLE_NAME not in first.file.name
    assert default_storage.open(first.file.name).read() == payloads.sample_file()
    assert first.checksum == hashlib.sha256(payloads.sample_file()).hexdigest()
    # when its file disappears (a new storage, a cleanup), the next run stores it again
    default_storage.delete(first.file.name)
    restored = services.stand_sample_attachment(provider=provider, tenant_id=tenant_id, kind="image")
    assert restored.pk != first.pk and default_storage.exists(restored.file.name)
    assert not Attachment.objects.filter(pk=first.pk).exists()


@pytest.mark.django_db
def test_test_stand_page_tells_providers_about_the_step(client):
    html = client.get("/developers/test-stand/").content.decode()
    rows = html[html.index('id="checks"'):html.index('id="verdicts"')]
    send = rows.index("<code>sendMessage</code>")
    step = rows.index(payloads.ATTACHMENT_CHECK)
    assert send < step < rows.index("<code>updateMessageContent</code>")
    assert payloads.ATTACHMENT_CONDITION in rows
    assert 'id="attachments"' in html and payloads.SAMPLE_NAME in html
