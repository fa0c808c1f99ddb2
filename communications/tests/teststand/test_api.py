"""Developers start runs and read reports through the marketplace API, for their own apps only."""

import time

import pytest

from communications.models import ConformanceRun
from communications.tests.factories import STAND_API_KEY
from config.testing.fake_provider import Reaction
from marketplace import services
from marketplace.tests.factories import API, SECRET_KEY

pytestmark = pytest.mark.django_db
RUNS = f"{API}/apps/acme/versions/1.0.0/test-runs"


def test_developer_starts_a_run_and_reads_the_report(app_version, developer, conformant,
                                                     django_capture_on_commit_callbacks):
    # when: the run is only queued while the request is answered
    with django_capture_on_commit_callbacks(execute=True):
        started = developer.post(RUNS)
        assert started.status_code == 202, started.json()
        assert started.json()["status"] == "queued" and conformant.requests == []
    run_id = started.json()["id"]
    # then: the report lists every check with request, response, latency and verdict
    report = developer.get(f"{RUNS}/{run_id}")
    assert report.status_code == 200
    body = report.json()
    assert (body["status"], body["passed"], body["configurationVersion"]) == ("passed", True, "1.0.0")
    assert [c["endpoint"] for c in body["checks"]][:3] == ["getChannels", "sendMessage", "sendMessage"]
    assert body["checks"][-1]["endpoint"] == "disconnect"
    send = body["checks"][1]
    assert send["verdict"] == "ok" and send["response"]["status"] == 200 and send["latencyMs"] is not None
    assert send["request"]["body"]["tenantId"] == body["sandboxTenantId"]
    assert send["request"]["headers"]["X-Api-Key"].startswith("****")
    assert SECRET_KEY not in report.content.decode() and STAND_API_KEY not in report.content.decode()
    # ... and the list shows it
    listing = developer.get(RUNS).json()
    assert [(item["id"], item["status"]) for item in listing] == [(run_id, "passed")]
    assert ConformanceRun.objects.get().origin == "developer"


def test_failed_check_reason_reaches_the_developer(app_version, developer, conformant,
                                                   django_capture_on_commit_callbacks):
    conformant.on("sendMessage", Reaction(body={}))
    with django_capture_on_commit_callbacks(execute=True):
        run_id = developer.post(RUNS).json()["id"]
    body = developer.get(f"{RUNS}/{run_id}").json()
    assert body["status"] == "failed"
    failing = [c for c in body["checks"] if c["verdict"] != "ok"]
    assert [(c["endpoint"], c["verdict"]) for c in failing] == [("sendMessage", "contract_violation")]
    assert "messageId" in failing[0]["reason"]


def test_someone_elses_app_is_404_and_nothing_runs(app_version, developer, other_developer, conformant,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = developer.post(RUNS).json()["id"]
    assert other_developer.post(RUNS).status_code == 404
    assert other_developer.get(RUNS).status_code == 404
    response = other_developer.get(f"{RUNS}/{run_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "application_not_found"
    assert ConformanceRun.objects.count() == 1


def test_run_of_another_version_is_not_found_under_this_one(app_version, developer,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = developer.post(RUNS).json()["id"]
    services.app_version_create(application=app_version.application, version="1.1.0")
    response = developer.get(f"{API}/apps/acme/versions/1.1.0/test-runs/{run_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "test_run_not_found"


def test_second_start_while_running_is_409(app_version, developer):
    assert developer.post(RUNS).status_code == 202  # on_commit not run: stays queued
    response = developer.post(RUNS)
    assert response.status_code == 409 and response.json()["error"]["code"] == "test_run_in_progress"


def test_version_without_configuration_or_scope_cannot_be_run(app_version, developer):
    services.app_version_create(application=app_version.application, version="2.0.0")  # inherits config
    bare_app = services.application_create(company=developer.user.provider_companies.get(), code="bare",
                                           name="Без скоупа")
    services.app_version_create(application=bare_app, version="1.0.0")
    response = developer.post(f"{API}/apps/bare/versions/1.0.0/test-runs")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "communications_scope_disabled"
    assert "appVersion" in response.json()["error"]["fields"]


def test_version_without_active_configuration_is_409(developer, stand):
    company = developer.user.provider_companies.get()
    application = services.application_create(company=company, code="acme", name="Acme")
    services.app_version_create(application=application, version="1.0.0", scopes=["communications"])
    response = developer.post(RUNS)
    assert response.status_code == 409 and response.json()["error"]["fields"]["appVersion"]


@pytest.mark.integration
def test_run_goes_through_a_real_celery_worker_and_never_blocks_the_request(transactional_db, celery_worker,
                                                                             app_version, developer, conformant):
    # given: a provider that takes a while on every call
    conformant.always(Reaction(delay=0.15))
    # when
    started = time.monotonic()
    response = developer.post(RUNS)
    answered_in = time.monotonic() - started
    # then: answered at once; the worker does the calls (12 × 0.15 s) and records the result
    assert response.status_code == 202 and answered_in < 1.0
    run = ConformanceRun.objects.get(pk=response.json()["id"])
    deadline = time.monotonic() + 60
    while run.status in ConformanceRun.ACTIVE_STATUSES and time.monotonic() < deadline:
        time.sleep(0.2)
        run.refresh_from_db()
    assert run.status == "passed", [(c.endpoint, c.verdict, c.reason) for c in run.checks.exclude(verdict="ok")]
    assert developer.get(f"{RUNS}/{run.pk}").json()["passed"] is True
