"""Health per process (issue 20): liveness, readiness, stale beat, heartbeat files."""

import json
import os
import re
import subprocess
import time

import pytest
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from communications.tasks import deliveries_sweep_task
from config.observability import beat
from config.observability.heartbeat import heartbeat_age, heartbeat_touch
from config.observability.heartbeat import main as heartbeat_check
from config.tests.observability.helpers import PYTHON, ROOT, child_env, wait_until


def ready(client):
    response = client.get("/healthz/ready")
    return response.status_code, response.json()["checks"]


# --- liveness ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# --- readiness ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_ready_when_database_broker_migrations_and_beat_are_fine(client, shared_cache):
    status, checks = ready(client)
    assert (status, checks) == (200, {"database": "ok", "broker": "ok", "migrations": "ok", "beat": "ok"})


@pytest.mark.django_db
def test_not_ready_while_a_migration_is_unapplied(client):
    # given: the last communications migration is recorded as not applied (rolled back with the test)
    (_, last), = [node for node in MigrationLoader(None).graph.leaf_nodes() if node[0] == "communications"]
    MigrationRecorder.Migration.objects.filter(app="communications", name=last).delete()
    # when
    status, checks = ready(client)
    # then
    assert status == 503
    assert checks["migrations"] == f"error: не применены миграции (1): communications.{last}"
    assert checks["database"] == "ok"


@pytest.mark.django_db
def test_not_ready_while_the_broker_is_down(client, broker):
    assert ready(client)[0] == 200
    # when: the broker stops
    broker.terminate()
    broker.wait(10)
    status, checks = ready(client)
    # then
    assert status == 503 and checks["broker"].startswith("error: ") and checks["database"] == "ok"


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
def test_not_ready_while_the_database_is_down():
    # given: a real web process whose PostgreSQL does not answer (nothing listens on port 1)
    script = ("import django, json; django.setup(); from django.test import Client; "
              "r = Client(HTTP_HOST='localhost').get('/healthz/ready'); print(json.dumps([r.status_code, r.json()]))")
    result = subprocess.run([PYTHON, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=child_env(DJANGO_SETTINGS_MODULE="config.settings",
                                          DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere"))
    # then
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == "error: OperationalError"


# --- beat ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_beat_sweeper_silent_for_three_intervals_makes_readiness_fail_and_names_it(client, settings, shared_cache):
    settings.CELERY_BEAT_SCHEDULE = {"sweep": {"task": "communications.deliveries_sweep", "schedule": 30.0}}
    now = time.time()
    beat.sweeper_success_record("communications.deliveries_sweep", when=now - 89)
    assert ready(client)[0] == 200  # 89 s: within three intervals
    beat.sweeper_success_record("communications.deliveries_sweep", when=now - 95)
    status, checks = ready(client)
    assert status == 503
    assert checks["beat"].startswith("error: beat отстаёт (больше 3 интервалов): communications.deliveries_sweep")
    # and with HEALTH_BEAT_STALE_FAILS_READY=0 it is only reported
    settings.HEALTH_BEAT_STALE_FAILS_READY = False
    status, checks = ready(client)
    assert status == 200 and "deliveries_sweep не выполнялся" in checks["beat"]


@pytest.mark.django_db
def test_without_a_shared_cache_beat_is_reported_unknown_and_does_not_fail_readiness(client, settings, broker):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    beat.sweeper_success_record("communications.deliveries_sweep", when=time.time() - 10_000)
    status, checks = ready(client)
    assert status == 200 and checks["beat"].startswith("unknown: без общего кэша (REDIS_URL)")


@pytest.mark.django_db
def test_a_beat_that_never_ran_becomes_stale_three_intervals_after_we_started_watching(settings):
    settings.CELERY_BEAT_SCHEDULE = {"sweep": {"task": "communications.deliveries_sweep", "schedule": 60.0}}
    start = time.time()
    assert [s.stale for s in beat.sweeper_states(now=start)] == [False]
    assert [s.stale for s in beat.sweeper_states(now=start + 179)] == [False]
    assert [s.stale for s in beat.sweeper_states(now=start + 181)] == [True]


@pytest.mark.integration
def test_a_sweep_run_by_a_real_worker_is_recorded_as_its_last_success(transactional_db, celery_worker):
    def last_success():
        return next(s.last_success or 0 for s in beat.sweeper_states() if s.task == "communications.deliveries_sweep")

    before = time.time()
    deliveries_sweep_task.delay()
    wait_until(lambda: last_success() >= before, timeout=30, message="the sweep success was not recorded")


# --- heartbeat files -----------------------------------------------------------------------

def test_heartbeat_check_passes_when_fresh_and_fails_when_old_or_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEARTBEAT_DIR", str(tmp_path))
    assert heartbeat_check(["worker", "60"]) == 1  # missing
    heartbeat_touch("worker")
    assert heartbeat_check(["worker", "60"]) == 0
    old = time.time() - 120
    os.utime(tmp_path / "worker", (old, old))
    assert heartbeat_check(["worker", "60"]) == 1
    assert heartbeat_age("worker") >= 119


# --- admin dashboard -------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_admin_dashboard_warns_about_a_stale_beat_and_is_quiet_when_it_sweeps(admin_client, settings,
                                                                                  shared_cache):
    settings.CELERY_BEAT_SCHEDULE = {"sweep": {"task": "communications.deliveries_sweep", "schedule": 30.0}}
    beat.sweeper_success_record("communications.deliveries_sweep", when=time.time() - 600)
    page = admin_client.get("/admin/").content.decode()
    assert 'id="beat-stale"' in page
    assert re.search(r"communications\.deliveries_sweep — 6\d\d с \(интервал 30 с\)", page)
    beat.sweeper_success_record("communications.deliveries_sweep")
    assert 'id="beat-stale"' not in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_probes_and_metrics_are_not_redirected_to_https_in_production(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/admin/login/").status_code == 301  # everything else is
    assert client.get("/healthz/live").status_code == 200
    assert client.get("/healthz/ready").status_code in (200, 503)
    assert client.get("/metrics").status_code == 200  # from loopback
