"""The cost measurement of `make bench` (issue 19): the SQL statement counter and the per-item arithmetic."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.db import connection

from bench import sqlcount
from config.testing.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import report  # noqa: E402
import run as bench_run  # noqa: E402  (bench/run.py is a script, not a package module)


@pytest.mark.django_db
def test_sql_counter_counts_every_statement_of_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv(sqlcount.ENV, str(tmp_path))
    monkeypatch.setattr(sqlcount, "_state", {})
    sqlcount._on_connection(None, connection)
    try:
        with connection.cursor() as cursor:
            for _ in range(3):
                cursor.execute("SELECT 1")
        assert sqlcount.total(tmp_path) == 3
        sqlcount._on_connection(None, connection)  # a reconnect: still one wrapper
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert sqlcount.total(tmp_path) == 4
        assert [p.name for p in tmp_path.iterdir()] == [str(os.getpid())]
    finally:
        connection.execute_wrappers.remove(sqlcount._count)


def test_process_tree_cpu_includes_children():
    """A child that has burnt 0.3 s of CPU shows in its parent's tree (read live from /proc)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys, time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.3: pass\nprint('done', flush=True)\n"
                              "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "done\n"  # the child's own clock says it burnt the CPU
        table = bench_run._proc_table()
        assert table[child.pid][0] == os.getpid()
        assert table[child.pid][1] >= 0.25
        assert bench_run._tree_cpu(table, os.getpid()) >= table[os.getpid()][1] + table[child.pid][1]
    finally:
        child.kill()
        child.wait()


def test_cost_per_item_counts_backends_seen_only_during_the_scenario():
    before = {"gunicorn": 1.0, "celery": 2.0, "pg": {10: 0.5, 11: 1.0}, "harness": 4.0, "sql": 100, "at": 0.0}
    after = {"gunicorn": 1.5, "celery": 2.5, "pg": {10: 0.7}, "harness": 4.3, "sql": 300, "at": 10.0}
    watched = {10: 0.6, 11: 1.1, 12: 0.2}  # 11 exited after 0.1 s more; 12 came and went
    cost = bench_run.cost_diff(before, after, 100, watched)
    assert cost["cpu_ms_per_item_gunicorn"] == 5.0
    assert cost["cpu_ms_per_item_celery"] == 5.0
    assert cost["cpu_ms_per_item_postgres"] == pytest.approx(5.0)  # 0.2 + 0.1 + 0.2 s over 100 items
    assert cost["cpu_ms_per_item_web_worker"] == 10.0
    assert cost["sql_per_item"] == 2.0
    assert cost["pg_backends_exited"] == 2
    assert cost["cpu_ms_per_item_harness"] == 3.0 and cost["cpu_ms_per_item"] == pytest.approx(15.0)  # not counted


def test_ratios_and_goals_come_from_one_run():
    cost = {"cpu_ms_per_item": 4.0, "cpu_ms_per_item_web_worker": 3.0}
    scenarios = {
        "S1 ingest": {"req_per_s": 120, "items_per_s": 120, "cost": {**cost, "cpu_ms_per_item": 6.0}},
        "S3 bulk": {"items_per_s": 2000}, "S4 floor": {"req_per_s": 200, "cost": cost},
        "S5 outbound": {"delivered_per_s": 50, "e2e_p99_ms": 80, "p99_ms": 10,
                        "cost": {"cpu_ms_per_item": 7.0, "cpu_ms_per_item_web_worker": 5.5}},
        "S5 outbound, capacity": {"delivered_per_s": 110, "e2e_p99_ms": 900},
        "S6 notifications": {"req_per_s": 90, "cost": cost}, "S7 initial sync": {"items_per_s": 3000},
        "Chat list (operator)": {"p99_ms": 50, "cost": cost},
        "S8 chat list": {"p99_ms": 60, "cost": {**cost, "cpu_ms_per_item": 4.4}},
    }
    found = bench_run.ratios(scenarios)
    assert found["S1/S4"] == 0.6 and found["S7/S3"] == 1.5 and found["S6/S4"] == 0.45
    assert found["CPU S8 chat list/empty"] == 1.1 and found["p99 S8 chat list/empty"] == 1.2
    met = {g["goal"]: g["met"] for g in bench_run.goals(scenarios, found)}
    assert met["S1 / S4 >= 0.6"] and met["S7 / S3 items/s >= 1.5"] and not met["S6 / S4 >= 0.5"]
    assert met["S5 CPU ms per delivered call, web + worker <= 6"] and met["S5 e2e p99 < 100 ms at 50 msg/s"]
    assert found["S5 delivered/S4"] == 0.25 and not met["S5 delivered/s / S4 >= 0.5"]  # 50 offered: cannot hold
    assert found["S5 capacity delivered/S4"] == 0.55 and met["S5 capacity: delivered/s / S4 >= 0.5"]
    assert met["S8 chat list: CPU/item within 15% of the empty run"]
    assert not met["S8 chat list: p99 within 15% of the empty run"]
    # the empty run just before the seed, where there is one, is the one compared
    again = bench_run.ratios({**scenarios, "Chat list (again)": {"p99_ms": 55, "cost": cost}})
    assert again["p99 S8 chat list/empty"] == 1.091


def test_a_paced_request_is_shown_against_the_same_in_a_stream():
    """The S5 goal (<= 6 ms) reads S5 at 50 msg/s. Beside it, not as goals: the no-database ping paced as S5 against
    the ping at capacity (what a wake from idle costs on this machine), and S5 itself at capacity."""
    def cost(web, worker=0.0):
        return {"cost": {"cpu_ms_per_item": web + worker, "cpu_ms_per_item_gunicorn": web,
                         "cpu_ms_per_item_web_worker": web + worker, "cpu_ms_per_item_postgres": 0.0,
                         "sql_per_item": 0.0}, "req_per_s": 50, "items_per_s": 50, "p99_ms": 9}

    scenarios = {bench_run.PING: cost(0.5), bench_run.PING_PACED: cost(2.0),
                 "S5 outbound": {**cost(4.5, 3.0), "e2e_p99_ms": 15},
                 "S5 outbound, capacity": cost(3.25, 2.25)}
    found = bench_run.ratios(scenarios)
    assert bench_run.PING_PACED == "/bench/ping at 50 req/s"
    assert found["ping: web CPU ms at 50 req/s minus at capacity"] == 1.5
    assert found["S5: web + worker CPU ms at capacity"] == 5.5
    assert found["S5: web + worker CPU ms at 50 msg/s minus at capacity"] == 2.0
    assert not {goal["goal"] for goal in bench_run.goals(scenarios, found)} & set(found)  # none of them is a goal
    assert "ping: web CPU ms at 50 req/s minus at capacity" not in bench_run.ratios({bench_run.PING: cost(0.5)})
    assert report.table([{"generated_at": "2026-12-08T01:00", "scenarios": scenarios, "ratios": found, "goals": []}]
                        ).count("(not a goal)") == 3


def test_prepared_history_pages_are_the_bytes_the_fake_would_send():
    """S7 encodes the fake provider's history pages before its clock starts (config/testing/fake_provider.py)."""
    def page(fake, key: str, cursor: str | None) -> bytes:
        return requests.post(f"{fake.url}/getMessageHistory", json={"cursor": cursor, "limit": 3}, timeout=5,
                             headers={"Idempotency-Key": key}).content

    with FakeProvider() as fake:
        # given: the bytes of each page as the fake encodes them when asked
        fake.history = bench_run.history(7, 2)
        asked = [page(fake, f"a{n}", cursor) for n, cursor in enumerate([None, "3", "6"])]
        # when: the pages are prepared, then asked for again
        fake.history_prepare(3)
        prepared = [page(fake, f"b{n}", cursor) for n, cursor in enumerate([None, "3", "6"])]
        # then: the same bytes; a new history is encoded afresh
        assert prepared == asked and b'"nextCursor": null' in prepared[-1]
        fake.history = bench_run.history(2, 1)
        assert page(fake, "c", None) != asked[0] and b"hist-1" in page(fake, "d", None)


def test_the_bench_runs_the_production_commands_of_docker_compose(monkeypatch):
    """What `make bench` measures is what compose runs: gunicorn.conf.py (the JSON error worker, the access log),
    Celery at INFO without gossip, mingle and heartbeat, multiprocess metrics. Only the machine's share changes."""
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    monkeypatch.setattr(bench_run, "WORKERS", 3)
    monkeypatch.setattr(bench_run, "CELERY_CONCURRENCY", 2)
    layout = bench_run.production_layout(8123)
    web, worker = layout["web"][2:], layout["worker"][2:]  # after `python -m`
    assert layout["web"][:2] == layout["worker"][:2] == [sys.executable, "-m"]
    assert web == [*services["web"]["command"][:-1], "--bind", "127.0.0.1:8123", "--workers", "3",
                   services["web"]["command"][-1]]
    assert "gunicorn.conf.py" in web
    expected = list(services["worker"]["command"])
    expected[expected.index("--concurrency") + 1] = "2"
    assert worker == expected and "INFO" in worker
    web_env, worker_env = layout["web_env"], layout["worker_env"]
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]  # production counts across processes
    assert web_env["PROMETHEUS_MULTIPROC_DIR"] != worker_env["PROMETHEUS_MULTIPROC_DIR"]  # one per process group
    assert int(worker_env["METRICS_PORT"]) and "LOG_LEVEL" not in {**web_env, **worker_env}
    telegram = SimpleNamespace(url="http://127.0.0.1:1")
    assert "LOG_LEVEL" not in bench_run.stack_env(telegram)  # the stack logs at the default, INFO


def test_the_floor_beside_the_seed_shows_the_vms_drift_across_s8():
    def cpu(value):
        return {"cost": {"cpu_ms_per_item": value}}

    scenarios = {"S1 ingest (again)": cpu(3.0), "S8 S1 ingest": cpu(3.6),
                 "S4 floor (before the seed)": cpu(2.0), "S4 floor (after S8)": cpu(2.4)}
    found = bench_run.ratios(scenarios)
    assert found["CPU S8 S1 ingest/empty"] == 1.2  # the goal reads this, as the issue writes it
    assert found["CPU S4 floor after S8/before the seed"] == 1.2  # the floor moved as much: the VM, not the data
    assert found["CPU S8 S1 ingest/empty, over the floor's drift"] == 1.0
    assert "CPU S8 chat list/empty, over the floor's drift" not in found  # not measured in this run
    assert not bench_run.ratios({"S1 ingest (again)": cpu(3.0), "S8 S1 ingest": cpu(3.6)}).keys() & {
        "CPU S4 floor after S8/before the seed", "CPU S8 S1 ingest/empty, over the floor's drift"}


@pytest.mark.postgres
@pytest.mark.parametrize("as_history", [True, False])
def test_the_s8_seed_is_history_so_the_chat_list_shows_the_same_page_over_more_data(transactional_db, as_history):
    """S8 compares the operator's chat list before and after the seed: the first page must hold the same (live)
    chats, or the comparison is of two different pages. A seed of chats as new as the live ones fills that page."""
    import dataclasses
    import uuid

    from django.db import transaction

    from communications.selectors.conversations import chat_list_for_operator
    from communications.services.providers import provider_register
    from communications.tests.factories import chat_make
    from config.testing.volume import volume_seed

    provider, _ = provider_register(code="bench-s8", label="Бенчмарк")
    tenant_id = uuid.uuid4()
    for i in range(60):
        chat_make(tenant_id, provider, f"live-{i}")

    def first_page():
        return list(chat_list_for_operator(tenant_id=tenant_id, provider=provider)
                    .values_list("external_id", flat=True)[:50])

    before = first_page()
    volume = bench_run.s8_volume(tenant_id, 0.002)
    with transaction.atomic():  # the seed's temporary table lives until its commit
        volume_seed(connection, provider_id=provider.pk,
                    volume=volume if as_history else dataclasses.replace(volume, history_days=0))
    after = first_page()
    assert sum(chat.startswith("s8-") for chat in chat_list_for_operator(
        tenant_id=tenant_id, provider=provider).values_list("external_id", flat=True)) == 4  # 200 chats / 50 tenants
    assert (after == before) is as_history, after
