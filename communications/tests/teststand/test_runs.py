"""Conformance runs against real fake providers on 127.0.0.1."""

import json
import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from communications.endpoints import required_names
from communications.models import (
    ConformanceCheck,
    ConformanceRun,
    Delivery,
    DeliveryAttempt,
    SandboxTenant,
    TenantConfiguration,
)
from communications.services import teststand as services
from communications.services.deliveries import provider_signing_secrets
from communications.tests.factories import STAND_API_KEY, TenantConfigurationFactory, make_configuration, verdicts
from config.errors import ConflictError
from config.testing.fake_provider import Reaction
from delivery.engine import deliveries_sweep

pytestmark = pytest.mark.django_db
OK = ConformanceCheck.Verdict.OK

FULL_ORDER = [("getChannels", False), ("sendMessage", False), ("sendMessage", True), ("updateMessageContent", False),
              ("updateMessageStatus", False), ("markChatRead", False), ("setWebhook", False),
              ("getMessageHistory", False), ("bulkMessages", False), ("bulkMessages", True),
              ("deleteWebhook", False), ("disconnect", False)]


def test_conformant_provider_passes_every_check_in_documented_order(stand, conformant, run_now):
    # given: a configuration with every endpoint, required and optional
    make_configuration(conformant)
    # when
    run = run_now()
    # then: passed; every endpoint called once (+ the idempotency repeats), disconnect last
    assert run.status == ConformanceRun.Status.PASSED, run.summary
    assert verdicts(run) == [(name, repeat, OK) for name, repeat in FULL_ORDER]
    assert [r.endpoint for r in conformant.requests] == [name for name, _ in FULL_ORDER]
    assert run.started_at and run.finished_at and run.summary.startswith("Все эндпоинты ответили по контракту. ")
    # (no capabilities block: the summary says the attachment step did not run, test_attachment_step.py)
    assert "«sendMessage с вложением» не выполнялся" in run.summary


def test_each_check_records_request_response_latency_and_reason(stand, conformant, run_now):
    make_configuration(conformant)
    run = run_now()
    checks = {(c.endpoint, c.is_repeat): c for c in run.checks.all()}
    send, edit = checks[("sendMessage", False)], checks[("updateMessageContent", False)]
    # then: the request as sent, the answer (status, headers, excerpt), latency, a Russian reason
    assert send.request_url == conformant.endpoints()["sendMessage"]
    assert send.request_body == conformant.requests[1].json
    assert send.request_headers["X-SberCRM-Endpoint"] == "sendMessage"
    assert send.response_status == 200 and send.response_headers["Content-Type"] == "application/json"
    assert '"messageId"' in send.response_excerpt and send.latency_ms is not None
    assert "соответствует контракту" in send.reason
    # later calls reuse earlier answers: the channel from getChannels, the provider's message id
    provider_message_id = json.loads(send.response_excerpt)["messageId"]
    assert send.request_body["channelId"] == "ch-tg"
    assert edit.request_body["messageId"] == provider_message_id
    # the repeat used the same key and body
    repeat = checks[("sendMessage", True)]
    assert (repeat.idempotency_key, repeat.request_body) == (send.idempotency_key, send.request_body)
    assert "тот же id" in repeat.reason


def test_run_acts_for_the_sandbox_tenant_with_production_auth_and_signature(stand, conformant, run_now):
    # given: a real tenant already uses this provider
    configuration = make_configuration(conformant)
    real = TenantConfigurationFactory(provider=configuration.provider, configuration=configuration)
    # when
    run = run_now()
    # then: every call is for the fixed sandbox tenant, never the real one, and nothing was queued
    # (the run's own engine row is the only one)
    sandbox = SandboxTenant.objects.get(provider=configuration.provider)
    assert run.sandbox_tenant_id == sandbox.tenant_id != real.tenant_id
    assert {r.headers["x-sbercrm-tenant"] for r in conformant.requests} == {str(sandbox.tenant_id)}
    assert {r.json["tenantId"] for r in conformant.requests} == {str(sandbox.tenant_id)}
    assert list(TenantConfiguration.objects.all()) == [real]
    assert list(Delivery.objects.values_list("kind", "tenant_id")) == [("teststand_run", sandbox.tenant_id)]
    # ... with the production API key header and a verifiable Standard Webhooks signature
    secret = provider_signing_secrets(provider=configuration.provider)[0]
    for request in conformant.requests:
        assert request.headers["x-api-key"] == STAND_API_KEY
        Webhook(secret).verify(request.body, request.headers)
    # and the stored report never holds the key
    assert all(STAND_API_KEY not in str(c.request_headers) for c in run.checks.all())
    # the sandbox tenant is fixed per provider
    assert run_now().sandbox_tenant_id == sandbox.tenant_id


def test_only_configured_optional_endpoints_are_called(stand, conformant, run_now):
    make_configuration(conformant, endpoints=conformant.endpoints(required_names() + ("getMessageHistory",)))
    run = run_now()
    assert run.status == ConformanceRun.Status.PASSED
    assert [(e, r) for e, r, _ in verdicts(run)] == [
        ("getChannels", False), ("sendMessage", False), ("sendMessage", True), ("updateMessageContent", False),
        ("updateMessageStatus", False), ("markChatRead", False), ("getMessageHistory", False),
        ("disconnect", False)]


BROKEN = {
    "wrong status": (lambda fake: fake.on("updateMessageStatus", Reaction(status=500)),
                     {("updateMessageStatus", False): ("bad_status", "HTTP 500 вместо 2xx")}),
    "missing message id": (lambda fake: fake.on("sendMessage", Reaction(body={"status": "queued"})),
                           {("sendMessage", False): ("contract_violation", "непустым messageId")}),
    "slow beyond timeout": (lambda fake: fake.on("markChatRead", Reaction(delay=3)),
                            {("markChatRead", False): ("timeout", "таймаут чтения")}),
    "2xx later than the read timeout": (lambda fake: fake.on("markChatRead", Reaction(trickle=0.4)),
                                        {("markChatRead", False): ("timeout", "дольше допустимых")}),
    "redirect": (lambda fake: fake.on("updateMessageContent", Reaction(
        status=302, headers={"Location": "https://elsewhere.example/edit"}, body={})),
        {("updateMessageContent", False): ("redirect", "перенаправление на https://elsewhere.example/edit")}),
    "not idempotent": (lambda fake: setattr(fake, "deduplicate", False),
                       {("sendMessage", True): ("not_idempotent", "другой id"),
                        ("bulkMessages", True): ("not_idempotent", "другой id")}),
    "channels without code": (lambda fake: fake.on("getChannels", Reaction(body={"channels": [{"id": "c1"}]})),
                              {("getChannels", False): ("contract_violation", "непустые строки id и code")}),
    "bulk results missing": (lambda fake: fake.on("bulkMessages", Reaction(body={"results": []})),
                             {("bulkMessages", False): ("contract_violation", "по элементу на каждое")}),
}


@pytest.mark.parametrize("behaviour", list(BROKEN))
def test_each_broken_rule_gives_its_own_failing_verdict(stand, broken, run_now, behaviour):
    # given: the provider breaks exactly one rule
    breaks, expected = BROKEN[behaviour]
    make_configuration(broken)
    breaks(broken)
    # when
    run = run_now()
    # then: only the broken endpoint fails, with its own verdict and reason; the run fails
    assert run.status == ConformanceRun.Status.FAILED
    failing = {(c.endpoint, c.is_repeat): c for c in run.checks.exclude(verdict=OK)}
    assert set(failing) == set(expected)
    for key, (verdict, reason) in expected.items():
        assert failing[key].verdict == verdict
        assert reason in failing[key].reason
    assert all(name in run.summary for name, _ in expected)


def test_redirect_is_reported_not_followed(stand, broken, run_now):
    make_configuration(broken)
    broken.on("disconnect", Reaction(status=301, headers={"Location": f"{broken.url}/elsewhere"}, body={}))
    run = run_now()
    assert run.checks.get(endpoint="disconnect").verdict == "redirect"
    assert not [r for r in broken.requests if r.endpoint == "elsewhere"]


def test_provider_down_makes_every_endpoint_unreachable(stand, broken, run_now):
    make_configuration(broken, endpoints=broken.endpoints(required_names()))
    broken.go_away()
    run = run_now()
    assert run.status == ConformanceRun.Status.FAILED
    # no repeats: there is no first answer to compare with
    assert [(e, v) for e, _, v in verdicts(run)] == [
        (name, "unreachable") for name in ("getChannels", "sendMessage", "updateMessageContent",
                                           "updateMessageStatus", "markChatRead", "disconnect")]
    edit = run.checks.get(endpoint="updateMessageContent")
    assert "Эндпоинт недоступен" in edit.reason and "сначала исправьте sendMessage" in edit.reason


def test_https_endpoint_without_working_tls_gives_tls_error(stand, broken, run_now):
    # given: https URLs pointing at a server that does not speak TLS
    make_configuration(broken, endpoints={name: url.replace("http://", "https://")
                                          for name, url in broken.endpoints(required_names()).items()})
    run = run_now()
    assert {v for _, _, v in verdicts(run)} == {"tls_error"}
    assert "TLS-соединение не установлено" in run.checks.first().reason


def test_ssrf_refused_target_is_unreachable(stand, conformant, run_now):
    stand.PROVIDER_ALLOW_LOOPBACK = False
    make_configuration(conformant, endpoints=conformant.endpoints(required_names()))
    run = run_now()
    check = run.checks.first()
    assert check.verdict == "unreachable" and "SSRF" in check.reason
    assert conformant.requests == []


def test_stuck_provider_cannot_hold_the_run_beyond_its_budget(stand, broken, run_now):
    # given: every call stalls longer than the read timeout; the run budget is short
    stand.TESTSTAND_RUN_BUDGET = 1.0
    make_configuration(broken, endpoints=broken.endpoints(required_names()))
    broken.always(Reaction(delay=4))
    # when
    started = time.monotonic()
    run = run_now()
    elapsed = time.monotonic() - started
    # then: budget + one call's read timeout (+ slack), every check a timeout
    assert elapsed < 1.0 + stand.PROVIDER_READ_TIMEOUT + 1.5
    assert {v for _, _, v in verdicts(run)} == {"timeout"}
    reasons = [c.reason for c in run.checks.order_by("position")]
    assert "таймаут чтения" in reasons[0] and "общий лимит" in reasons[-1]
    assert len(broken.requests) < len(reasons)  # the last ones were never sent


def test_second_start_while_a_run_is_in_progress_conflicts(stand, conformant):
    make_configuration(conformant)
    services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="developer")
    with pytest.raises(ConflictError) as error:
        services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="developer")
    assert error.value.code == "test_run_in_progress"


def test_stale_run_is_marked_interrupted_and_replaced(stand, conformant):
    make_configuration(conformant)
    old = services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="developer")
    ConformanceRun.objects.filter(pk=old.pk).update(created_at=old.created_at.replace(year=2000))
    new = services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="developer")
    old.refresh_from_db()
    assert old.status == ConformanceRun.Status.INTERRUPTED and new.status == ConformanceRun.Status.QUEUED


def test_executing_a_finished_run_again_changes_nothing(stand, conformant, run_now):
    make_configuration(conformant)
    run = run_now()
    count, requests = run.checks.count(), len(conformant.requests)
    assert services.conformance_run_execute(run_id=run.pk) == "passed"
    assert (run.checks.count(), len(conformant.requests)) == (count, requests)


def test_run_without_active_configuration_is_refused(stand, conformant):
    configuration = make_configuration(conformant)
    configuration.bindings.update(is_active=False)
    with pytest.raises(ConflictError) as error:
        services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="developer")
    assert error.value.code == "no_active_configuration" and not ConformanceRun.objects.exists()


def test_latest_run_is_for_the_active_configuration(stand, conformant, run_now):
    make_configuration(conformant)
    assert run_now().passed
    assert services.conformance_run_latest(app_code="acme", app_version="1.0.0").passed
    # when: a new configuration becomes active, its own (missing) run counts
    make_configuration(conformant, configuration_version="1.1.0")
    assert services.conformance_run_latest(app_code="acme", app_version="1.0.0") is None



def _worker_died(run):
    """The run's row is in progress (a worker claimed it and ran checks) and its lease has expired."""
    long_ago = timezone.now() - timedelta(seconds=services.run_time_limit() + 3600)
    Delivery.objects.filter(pk=run.delivery_id).update(status=Delivery.Status.IN_PROGRESS, lease_expires_at=long_ago,
                                                       attempts=F("attempts") + 1)
    ConformanceRun.objects.filter(pk=run.pk).update(started_at=long_ago, status=ConformanceRun.Status.RUNNING)
    ConformanceCheck.objects.create(run=run, position=run.checks.count() + 1, endpoint="getChannels",
                                    request_url="http://x/", idempotency_key="k",
                                    verdict=ConformanceCheck.Verdict.TIMEOUT, reason="половина")


def test_engine_sweeper_runs_again_a_run_whose_worker_died(stand, conformant, django_capture_on_commit_callbacks):
    # Issue 15: a run left `running` by a dead worker is picked up by the engine's sweeper, not left stuck.
    stand.DELIVERY_SWEEP_GRACE = 0
    make_configuration(conformant)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="moderator")
    _worker_died(run)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    run.refresh_from_db()
    # then: run again from a clean slate (the half-done checks are gone), the restart is said
    assert run.status == ConformanceRun.Status.PASSED and "перезапущен" in run.summary.lower()
    assert verdicts(run)[0] == ("getChannels", False, OK) and run.checks.count() == len(FULL_ORDER)
    outcomes = list(DeliveryAttempt.objects.filter(delivery_id=run.delivery_id).values_list("outcome", flat=True))
    assert outcomes == ["interrupted", "success"]
    # a run that was restarted once and whose worker died again is closed, not looped
    Delivery.objects.filter(pk=run.delivery_id).update(status=Delivery.Status.IN_PROGRESS)
    _worker_died(run)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    run.refresh_from_db()
    assert run.status == ConformanceRun.Status.INTERRUPTED and "дважды" in run.summary
    assert Delivery.objects.get(pk=run.delivery_id).status == Delivery.Status.DEAD


def test_engine_sweeper_dispatches_a_queued_run_whose_task_was_lost(stand, conformant,
                                                                   django_capture_on_commit_callbacks):
    stand.DELIVERY_SWEEP_GRACE = 0
    make_configuration(conformant)
    with django_capture_on_commit_callbacks(execute=False):  # the dispatch is lost
        run = services.conformance_run_start(app_code="acme", app_version="1.0.0", origin="moderator")
    assert ConformanceRun.objects.get(pk=run.pk).status == ConformanceRun.Status.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    run.refresh_from_db()
    assert run.status == ConformanceRun.Status.PASSED


def test_a_run_is_never_retried_on_its_answers(stand, broken, run_now):
    # given: a provider that answers 503 everywhere (a transient failure for a provider call)
    make_configuration(broken, endpoints=broken.endpoints(required_names()))
    broken.always(Reaction(status=503))
    run = run_now()
    # then: one attempt, the verdict is the answer
    assert run.status == ConformanceRun.Status.FAILED
    delivery = Delivery.objects.get(pk=run.delivery_id)
    assert (delivery.kind, delivery.status, delivery.attempts) == ("teststand_run", Delivery.Status.DELIVERED, 1)
    assert len(broken.requests) == len(required_names())
