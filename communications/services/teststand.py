"""Conformance runs: start (a row of the delivery engine, kind `teststand_run`), execute against the
sandbox tenant, read the latest.

A run calls every endpoint of ONE provider configuration, in `payloads.plan()` order, through
`provider_call_now` — the same hardened client, API key header and Standard Webhooks signature
as production calls. It acts for the provider's sandbox tenant only: the TenantConfiguration it
passes is built in memory and never saved, so no real tenant is touched and nothing is queued.
The one thing a run keeps in the sandbox tenant is its sample attachment (`stand_sample_attachment`):
a stored file behind the same signed URLs real attachments have.
"""

import io
import logging
import time
import uuid
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from communications import clients
from communications import endpoints as provider_endpoints
from communications.models import (
    Attachment,
    Chat,
    ConformanceCheck,
    ConformanceRun,
    Delivery,
    DeliveryAttempt,
    Message,
    Provider,
    ProviderConfiguration,
    SandboxTenant,
    TenantConfiguration,
)
from communications.models.teststand import SANDBOX_NAMESPACE
from communications.selectors.providers import configuration_under_test_get, provider_get
from communications.services import files
from communications.services.attachments import attachments_for_provider
from communications.services.deliveries import provider_call_now
from communications.teststand import contract, payloads
from config.errors import ConflictError, NotFoundError
from config.observability.request_id import request_id_get
from delivery import engine
from delivery.kinds import Attempt, Kind, register
from delivery.outcomes import BROKEN, SUCCESS

logger = logging.getLogger(__name__)
Verdict = ConformanceCheck.Verdict
Status = ConformanceRun.Status
BODY_EXCERPT = 2000


def run_time_limit() -> float:
    """Longest a run may take: the budget plus one last call that started just before it ran out."""
    return settings.TESTSTAND_RUN_BUDGET + settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT


# --- sandbox tenant ----------------------------------------------------------------

def sandbox_tenant_get_or_create(*, provider: Provider) -> SandboxTenant:
    """The provider's dedicated sandbox tenant: uuid5 of its code, fixed, never a real tenant."""
    tenant_id = uuid.uuid5(SANDBOX_NAMESPACE, f"sbercrm-teststand:{provider.code}")
    if TenantConfiguration.objects.filter(tenant_id=tenant_id).exists():
        raise ConflictError("Идентификатор тенанта песочницы совпал с реальным тенантом: прогон запрещён.",
                            code="sandbox_tenant_collision")
    sandbox, _ = SandboxTenant.objects.get_or_create(provider=provider, defaults={"tenant_id": tenant_id})
    return sandbox


SAMPLE_CHAT, SAMPLE_MESSAGE = "teststand-samples", "teststand-sample-files"


@transaction.atomic
def stand_sample_attachment(*, provider: Provider, tenant_id: uuid.UUID, kind: str) -> Attachment:
    """The stand's sample file as an attachment of `kind`, in the sandbox tenant: stored once through the
    normal attachment storage (one message of a chat the provider never sees, one attachment per kind) and
    reused by later runs; stored again when its row or its file is gone (retention, a new storage)."""
    SandboxTenant.objects.select_for_update().get(provider=provider)  # one run at a time writes the sample
    chat, _ = Chat.objects.get_or_create(tenant_id=tenant_id, provider=provider, external_id=SAMPLE_CHAT,
                                         defaults={"title": "Тестовый стенд: образцы вложений"})
    message, _ = Message.objects.get_or_create(
        tenant_id=tenant_id, provider=provider, external_id=SAMPLE_MESSAGE,
        defaults={"chat": chat, "direction": Message.Direction.OUTGOING,
                  "text": f"Образцы вложений тестового стенда SberCRM (шаг «{payloads.ATTACHMENT_STEP}»)."})
    position = payloads.SAMPLE_KINDS.index(kind)
    sample = message.attachments.filter(position=position).first()
    if sample and sample.file and default_storage.exists(sample.file.name):
        return sample
    if sample:
        sample.delete()  # its file is gone: store it again
    stored = files.store(tenant_id=tenant_id, fileobj=io.BytesIO(payloads.sample_file()), kind=kind)
    try:  # a failed INSERT must not leave the file behind
        return Attachment.objects.create(
            tenant_id=tenant_id, provider=provider, message=message, position=position, type=kind,
            name=payloads.SAMPLE_NAME, mime_type=stored.mime_type, size=stored.size, checksum=stored.checksum,
            file=stored.name, status=Attachment.Status.STORED)
    except Exception:
        files.delete([stored.name])
        raise


# --- start -------------------------------------------------------------------------

@transaction.atomic
def conformance_run_start(*, app_code: str, app_version: str, origin: str, actor=None) -> ConformanceRun:
    """Queue a run for the configuration under test for `app_version` (pending, else active). One run at a
    time per configuration. The run executes as a row of the delivery engine (kind `teststand_run`)."""
    provider = provider_get(code=app_code, for_update=True)  # serialises concurrent starts
    configuration = configuration_under_test_get(provider=provider, app_version=app_version)
    if configuration is None:
        raise ConflictError(f"Для версии {app_version} нет активной конфигурации провайдера: проверять нечего.",
                            code="no_active_configuration", field="appVersion")
    stale_before = timezone.now() - timedelta(seconds=run_time_limit() + settings.TESTSTAND_STALE_MARGIN)
    active = ConformanceRun.objects.filter(configuration=configuration, status__in=ConformanceRun.ACTIVE_STATUSES)
    if active.filter(created_at__gt=stale_before).exists():
        raise ConflictError("Прогон этой конфигурации уже выполняется; дождитесь его результата.",
                            code="test_run_in_progress")
    for stale in active:  # its row ends too (on_final marks the run interrupted with this summary)
        if stale.delivery_id and not Delivery.objects.get(pk=stale.delivery_id).is_final:
            engine.delivery_cancel(delivery_id=stale.delivery_id, reason=STALE)
        else:
            _finish(stale, Status.INTERRUPTED, STALE)
    sandbox = sandbox_tenant_get_or_create(provider=provider)
    run = ConformanceRun.objects.create(provider=provider, configuration=configuration, app_version=app_version,
                                        sandbox_tenant_id=sandbox.tenant_id, origin=origin, started_by=actor)
    run.delivery = engine.delivery_create(
        kind=Delivery.Kind.TESTSTAND_RUN, tenant_id=sandbox.tenant_id, provider_id=provider.pk, endpoint="teststand",
        url="", payload={"run": run.pk}, request_id=request_id_get())
    run.save(update_fields=["delivery"])
    return run


STALE = "Прогон не завершился за отведённое время (воркер остановлен или задача потеряна)."
RESTARTED = "Перезапущен сборщиком: воркер остановился во время проверки."


# --- execute: the engine's kind ------------------------------------------------------

def conformance_run_execute(*, run_id: int) -> str:
    """One engine attempt of the run's row; returns the run's status. Safe to call twice: a finished
    run is not executed again."""
    delivery_id = ConformanceRun.objects.filter(pk=run_id).values_list("delivery_id", flat=True).first()
    if delivery_id:
        engine.delivery_send(delivery_id=delivery_id)
    return ConformanceRun.objects.get(pk=run_id).status


@register
class _TeststandRunKind(Kind):
    """A run is a measurement: never retried on its answers (the verdict is the answer). A run whose
    worker died (lease expired) is run again once by the engine's sweeper, then it is interrupted."""

    name = Delivery.Kind.TESTSTAND_RUN

    def max_attempts(self) -> int:
        return 2  # the run, and one restart after a dead worker

    def lease_seconds(self, delivery: Delivery) -> float:
        return run_time_limit() + settings.TESTSTAND_STALE_MARGIN

    def queue(self) -> str:
        return settings.TESTSTAND_QUEUE

    def time_limits(self) -> tuple[float, float]:
        # A live worker stops the run (soft: the run is interrupted) well before its lease expires.
        margin = min(settings.TESTSTAND_STALE_MARGIN, 30)
        return run_time_limit() + margin / 2, run_time_limit() + margin

    def gate(self, delivery: Delivery) -> str | None:
        if not ConformanceRun.objects.filter(pk=delivery.payload["run"]).exists():
            engine.finish(delivery, Delivery.Status.CANCELLED, "прогон удалён")
            return "cancelled"
        return None

    def prepare(self, delivery: Delivery) -> None:
        run = ConformanceRun.objects.select_for_update().get(pk=delivery.payload["run"])
        if delivery.attempts:  # the worker of the previous attempt died: start over, clean
            run.checks.all().delete()
            run.summary = RESTARTED
        run.status, run.started_at = Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at", "summary"])

    def send(self, delivery: Delivery) -> Attempt:
        run = ConformanceRun.objects.select_related("provider", "configuration").get(pk=delivery.payload["run"])
        try:
            failed = _execute(run)
        except SoftTimeLimitExceeded:
            return Attempt(BROKEN, error="Прогон прерван: превышен предельный срок задачи.")
        except Exception:
            logger.exception("conformance run %s crashed", run.pk)
            return Attempt(BROKEN, error="Прогон прерван внутренней ошибкой тестового стенда.")
        if failed:
            verdict = {"status": Status.FAILED, "summary": "Не пройдены: " + ", ".join(failed) + "."}
        else:
            verdict = {"status": Status.PASSED, "summary": "Все эндпоинты ответили по контракту."}
        note = payloads.attachment_skip_note(run.configuration)
        verdict["summary"] += f" {note}" if note else ""
        return Attempt(SUCCESS, response_json=verdict)

    def on_final(self, delivery: Delivery) -> None:
        """The run mirrors the row: its verdict when delivered, else interrupted with the reason."""
        run = ConformanceRun.objects.select_for_update().filter(pk=delivery.payload["run"]).first()
        if run is None or run.delivery_id != delivery.pk or run.status not in ConformanceRun.ACTIVE_STATUSES:
            return
        if delivery.status == Delivery.Status.DELIVERED and isinstance(delivery.response_json, dict):
            _finish(run, delivery.response_json["status"], delivery.response_json["summary"])
        elif delivery.status == Delivery.Status.DEAD and _last_attempt_interrupted(delivery):
            _finish(run, Status.INTERRUPTED, "Прогон прерван: воркер остановился во время проверки (дважды).")
        else:
            _finish(run, Status.INTERRUPTED, delivery.last_error or "Прогон прерван.")


def _last_attempt_interrupted(delivery: Delivery) -> bool:
    """Its restart's worker died too (the engine logged the lost lease, and no attempt is left)."""
    last = delivery.attempt_log.order_by("-pk").values_list("outcome", flat=True).first()
    return last == DeliveryAttempt.Outcome.INTERRUPTED


def _finish(run: ConformanceRun, status: str, summary: str) -> str:
    if run.summary == RESTARTED and status != Status.INTERRUPTED:
        summary = f"{summary} ({RESTARTED[:-1].lower()}.)"
    run.status, run.summary, run.finished_at = status, summary, timezone.now()
    run.save(update_fields=["status", "summary", "finished_at"])
    return status


def _execute(run: ConformanceRun) -> list[str]:
    """Call the endpoints in order, saving each check as it completes. Returns the failed ones."""
    configuration = run.configuration
    ctx = payloads.RunContext(tenant_id=str(run.sandbox_tenant_id), run_id=run.pk)
    # Built in memory, never saved: provider_call_now only reads these attributes.
    sandbox = TenantConfiguration(tenant_id=run.sandbox_tenant_id, provider=run.provider,
                                  configuration=configuration, app_version=run.app_version)
    deadline = time.monotonic() + settings.TESTSTAND_RUN_BUDGET
    attachment_kind = payloads.attachment_kind(configuration)
    failed, position = [], 0
    for endpoint in payloads.plan(configuration.endpoints):
        body, key = payloads.build(endpoint, ctx), str(uuid.uuid4())
        step = provider_endpoints.endpoint_get(endpoint).stand
        attempts = [False, True] if step.repeat_ids else [False]
        first_answer = None
        for is_repeat in attempts:
            if is_repeat and first_answer is None:
                break  # nothing to compare the repeat with
            position += 1
            check = _check(run, configuration, sandbox, endpoint, body, key, deadline, position, is_repeat,
                           first_answer)
            if check.verdict != Verdict.OK:
                failed.append(endpoint + (" (повтор)" if is_repeat else ""))
            elif not is_repeat:
                first_answer = check.parsed
                if step.learn:
                    step.learn(ctx, check.parsed)
        if endpoint == payloads.ATTACHMENT_AFTER and attachment_kind:
            position += 1
            if not _attachment_check(run, sandbox, ctx, attachment_kind, deadline, position).passed:
                failed.append(payloads.ATTACHMENT_STEP)
    return failed


def _attachment_check(run, sandbox, ctx, kind: str, deadline: float, position: int) -> ConformanceCheck:
    """sendMessage with the stand's sample file, its attachment built as in production (signed URL, checksum)."""
    sample = stand_sample_attachment(provider=run.provider, tenant_id=run.sandbox_tenant_id, kind=kind)
    body = ctx.send_body(payloads.ATTACHMENT_MESSAGE, attachments=attachments_for_provider([sample]))
    return _check(run, run.configuration, sandbox, payloads.ATTACHMENT_AFTER, body, str(uuid.uuid4()), deadline,
                  position, False, None, step=payloads.ATTACHMENT_STEP, hint=payloads.ATTACHMENT_HINT)


def _request_headers(configuration: ProviderConfiguration, endpoint: str, key: str, tenant_id: str) -> dict:
    """What the client sends (docs/provider-calls.md), with the API key masked and no signature value."""
    return {
        "Content-Type": "application/json",
        "User-Agent": clients.USER_AGENT,
        configuration.auth_header: configuration.masked_key,
        "Idempotency-Key": key,
        "webhook-id": key,
        "webhook-timestamp": "<время вызова>",
        "webhook-signature": "v1,<HMAC-SHA256 секретом подписи провайдера>",
        "X-SberCRM-Endpoint": endpoint,
        "X-SberCRM-Tenant": tenant_id,
    }


def _check(run, configuration, sandbox, endpoint, body, key, deadline, position, is_repeat, first_answer, *,
           step: str = "", hint: str = ""):
    """One call and its verdict, saved. `step` names a step that is not the endpoint's own call (its reason
    starts with it); `hint` is added to the reason when the step fails."""
    check = ConformanceCheck(
        run=run, position=position, endpoint=endpoint, is_repeat=is_repeat,
        request_url=configuration.endpoint_url(endpoint) or "", request_body=body, idempotency_key=key,
        request_headers=_request_headers(configuration, endpoint, key, str(sandbox.tenant_id)),
    )
    check.parsed = None
    if not check.request_url:
        check.verdict, check.reason = Verdict.CONTRACT_VIOLATION, "Обязательный эндпоинт не указан в конфигурации."
    elif time.monotonic() >= deadline:
        check.verdict, check.reason = Verdict.TIMEOUT, (
            f"Не выполнена: прогон исчерпал общий лимит {settings.TESTSTAND_RUN_BUDGET:g} с — "
            "предыдущие эндпоинты отвечали слишком долго.")
    else:
        started = time.monotonic()
        try:
            result = provider_call_now(tenant_configuration=sandbox, endpoint=endpoint, payload=body,
                                       idempotency_key=key)
        except clients.OutboundCallError as error:
            check.latency_ms = int((time.monotonic() - started) * 1000)
            check.verdict, check.reason = contract.transport_verdict(error)
        else:
            check.response_status, check.latency_ms = result.status_code, result.latency_ms
            check.response_headers, check.response_excerpt = result.headers, result.excerpt[:BODY_EXCERPT]
            check.verdict, check.reason = contract.call_verdict(endpoint, result, body)
            if check.verdict == Verdict.OK:
                check.parsed = result.json
                if is_repeat:
                    check.verdict, check.reason = contract.repeat_verdict(endpoint, first_answer, result.json)
        if check.verdict != Verdict.OK and "messageId" in body and body["messageId"] is None:
            check.reason += " (messageId из sendMessage не получен: сначала исправьте sendMessage.)"
    if step:
        check.reason = f"{step}: {check.reason}"
    if hint and check.verdict != Verdict.OK:
        check.reason += f" {hint}"
    check.save()
    return check


# --- reads for the publish rule and the reports ------------------------------------

def conformance_run_latest(*, app_code: str, app_version: str) -> ConformanceRun | None:
    """The latest run of the configuration under test for `app_version` (None without one)."""
    try:
        provider = provider_get(code=app_code)
    except NotFoundError:
        return None
    configuration = configuration_under_test_get(provider=provider, app_version=app_version)
    if configuration is None:
        return None
    return (ConformanceRun.objects.select_related("configuration").filter(configuration=configuration)
            .order_by("-created_at", "-id").first())


def conformance_run_list(*, app_code: str, app_version: str):
    """Runs for one app version of one provider, newest first (the caller scopes the app)."""
    return (ConformanceRun.objects.select_related("configuration")
            .filter(provider__code=app_code, app_version=app_version).order_by("-created_at", "-id"))


def conformance_run_get(*, app_code: str, app_version: str, run_id: int) -> ConformanceRun:
    run = (conformance_run_list(app_code=app_code, app_version=app_version).filter(pk=run_id)
           .prefetch_related("checks").first())
    if run is None:
        raise NotFoundError(f"Прогон {run_id} не найден.", code="test_run_not_found", field="runId")
    return run
