"""Conformance runs: start (queued to Celery), execute against the sandbox tenant, read the latest.

A run calls every endpoint of ONE provider configuration, in `payloads.plan()` order, through
`provider_call_now` — the same hardened client, API key header and Standard Webhooks signature
as production calls. It acts for the provider's sandbox tenant only: the TenantConfiguration it
passes is built in memory and never saved, so no real tenant is touched and nothing is queued.
"""

import logging
import time
import uuid
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from communications import clients
from communications.models import (
    ConformanceCheck,
    ConformanceRun,
    Provider,
    ProviderConfiguration,
    SandboxTenant,
    TenantConfiguration,
)
from communications.models.teststand import SANDBOX_NAMESPACE
from communications.selectors.providers import configuration_under_test_get, provider_get
from communications.services.deliveries import provider_call_now
from communications.teststand import contract, payloads
from config.api.errors import ConflictError, NotFoundError
from delivery.dispatch import dispatch

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


# --- start -------------------------------------------------------------------------

@transaction.atomic
def conformance_run_start(*, app_code: str, app_version: str, origin: str, actor=None) -> ConformanceRun:
    """Queue a run for the configuration under test for `app_version` (pending, else active). One run at a
    time per configuration."""
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
    active.update(status=Status.INTERRUPTED, finished_at=timezone.now(),
                  summary="Прогон не завершился за отведённое время (воркер остановлен или задача потеряна).")
    sandbox = sandbox_tenant_get_or_create(provider=provider)
    run = ConformanceRun.objects.create(provider=provider, configuration=configuration, app_version=app_version,
                                        sandbox_tenant_id=sandbox.tenant_id, origin=origin, started_by=actor)
    transaction.on_commit(lambda: _dispatch(run.pk), robust=True)
    return run


def _dispatch(run_id: int) -> bool:
    """One fail-fast publish; never raises: `conformance_runs_sweep` picks up a lost dispatch."""
    from communications.tasks import conformance_run_execute_task

    return dispatch(conformance_run_execute_task, args=[run_id], queue=settings.TESTSTAND_QUEUE,
                    label=f"conformance run {run_id}")


RESTARTED = "Перезапущен сборщиком: воркер остановился во время проверки."


def conformance_runs_sweep() -> int:
    """Beat: pick up runs a dead worker or a lost dispatch left behind. Returns how many were dispatched.

    - `queued` for longer than TESTSTAND_SWEEP_GRACE: dispatched again (running it twice is harmless);
    - `running` past its time limit (the worker died; a live one is stopped by the task's time limits):
      its checks are cleared and it runs again, once; a second death closes it as interrupted.
    """
    now = timezone.now()
    restarted: list[int] = []
    lost_before = now - timedelta(seconds=run_time_limit() + settings.TESTSTAND_STALE_MARGIN)
    for run_id in ConformanceRun.objects.filter(status=Status.RUNNING, started_at__lt=lost_before).values_list(
            "pk", flat=True)[:100]:
        with transaction.atomic():
            run = ConformanceRun.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                pk=run_id, status=Status.RUNNING).first()
            if run is None:
                continue
            if run.summary == RESTARTED:
                _finish(run, Status.INTERRUPTED, "Прогон прерван: воркер остановился во время проверки (дважды).")
                continue
            run.checks.all().delete()
            run.status, run.started_at, run.summary = Status.QUEUED, None, RESTARTED
            run.save(update_fields=["status", "started_at", "summary"])
            transaction.on_commit(lambda pk=run.pk: _dispatch(pk), robust=True)
            restarted.append(run.pk)
    waiting = ConformanceRun.objects.filter(
        status=Status.QUEUED, created_at__lt=now - timedelta(seconds=settings.TESTSTAND_SWEEP_GRACE),
    ).exclude(pk__in=restarted)
    return len(restarted) + sum(_dispatch(run_id) for run_id in waiting.values_list("pk", flat=True)[:100])


# --- execute -----------------------------------------------------------------------

def conformance_run_execute(*, run_id: int) -> str:
    """Run every check of a queued run. Safe to call twice: only a queued run starts."""
    with transaction.atomic():
        run = (ConformanceRun.objects.select_for_update(of=("self",)).select_related("provider", "configuration")
               .get(pk=run_id))
        lost = run.status == Status.RUNNING and run.started_at < timezone.now() - timedelta(seconds=run_time_limit())
        if lost:  # redelivered after the worker running it died
            return _finish(run, Status.INTERRUPTED, "Прогон прерван: воркер остановился во время проверки.")
        if run.status != Status.QUEUED:
            return run.status
        run.status, run.started_at = Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        failed = _execute(run)
    except SoftTimeLimitExceeded:
        return _finish(run, Status.INTERRUPTED, "Прогон прерван: превышен предельный срок задачи.")
    except Exception:
        logger.exception("conformance run %s crashed", run_id)
        return _finish(run, Status.INTERRUPTED, "Прогон прерван внутренней ошибкой тестового стенда.")
    if failed:
        return _finish(run, Status.FAILED, "Не пройдены: " + ", ".join(failed) + ".")
    return _finish(run, Status.PASSED, "Все эндпоинты ответили по контракту.")


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
    failed, position = [], 0
    for endpoint in payloads.plan(configuration.endpoints):
        body, key = payloads.build(endpoint, ctx), str(uuid.uuid4())
        attempts = [False, True] if endpoint in payloads.REPEATED else [False]
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
                _learn(ctx, endpoint, check.parsed)
    return failed


def _learn(ctx: payloads.RunContext, endpoint: str, answer) -> None:
    if endpoint == "getChannels" and answer.get("channels"):
        ctx.channel_id = answer["channels"][0]["id"]
    elif endpoint == "sendMessage":
        ctx.provider_message_id = str(answer.get("messageId") or answer.get("id"))


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


def _check(run, configuration, sandbox, endpoint, body, key, deadline, position, is_repeat, first_answer):
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
