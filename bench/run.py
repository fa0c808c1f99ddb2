"""`make bench`: measure the production stack on this machine (issue 9, README "Performance").

Starts, on 127.0.0.1: a fake provider and a fake Telegram Bot API (threads of this process),
docker-compose.yml's `web` (gunicorn.conf.py) and `worker` commands (`production_layout`; production settings:
DEBUG=0, generated SECRET_KEY, ...), on a fresh PostgreSQL database and a Redis DB of their own. Seeds a provider +
configuration pointing at the fake provider, a tenant with an integration token, chats, a CRM
service account and notification recipients bound to Telegram. Then runs the scenarios with
the separate load generator process (bench/loadgen.py), reads the peak RSS of the gunicorn
workers and the Celery worker after each one, writes bench/results/latest.json, prints a table
and stops everything it started (process groups, in `finally`).

Environment: BENCH_PG_URL (server, default postgres://postgres@127.0.0.1:5432), BENCH_DB
(sbercrm_bench, dropped and re-created), BENCH_REDIS_URL (redis://127.0.0.1:6379/14, flushed),
BENCH_DURATION (10 s per scenario), BENCH_WORKERS (3 gunicorn workers), BENCH_CONCURRENCY (6),
BENCH_CELERY_CONCURRENCY (2 prefork processes), BENCH_ONLY (comma-separated scenario name prefixes, e.g.
"S5"; a partial run writes bench/results/partial.json and leaves latest.json alone),
BENCH_DB_CONN_MAX_AGE (DB_CONN_MAX_AGE of the stack, default 60 = the compose production layout; 0 = no reuse),
BENCH_S8_SCALE (size of the large-data scenario S8: 1.0 = 1,000,000 messages in 100,000 chats over 50 tenants and
200,000 delivery rows; 0 skips S8).

Cost per item (issue 19), measured around every scenario and computed within the run:
- CPU ms per item of gunicorn (master + workers), the Celery worker (main + pool) and the PostgreSQL backends
  connected to the bench database, from /proc/<pid>/stat (utime + stime, plus cutime + cstime for children that
  exited and were reaped inside the tree). Backends are also sampled every 0.25 s during a scenario, so one that
  exits inside it counts up to its last sample (`pg_backends_exited` says how many did).
- Apart from those, `cpu_ms_per_item_harness`: this process (the fakes' threads) and the load generators it ran
  and reaped, from os.times(): what the bench itself took of the same cores.
- SQL statements per item: counted by the stack itself (bench/sqlcount.py), because pg_stat_statements is not
  preloaded on the bench server.
Raw results: artifacts/bench/<time>.json for every run (partial ones too); bench/results/latest.json (the last
full run, committed) is what the README table shows; bench/results/partial.json the last partial run.
"""

import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.testing.fake_provider import FakeProvider  # noqa: E402  (no Django import)
from config.testing.fake_telegram import FakeTelegram  # noqa: E402

PY = sys.executable
RESULTS = ROOT / "bench" / "results"
ARTIFACTS = ROOT / "artifacts" / "bench"
COMPOSE = ROOT / "docker-compose.yml"
SQL_COUNT_DIR = ARTIFACTS / "sqlcount"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RUNNER_APP = "bench-runner"  # application_name of this process's own PostgreSQL connections (not measured)
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = os.environ.get("BENCH_DB", "sbercrm_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "6"))
CELERY_CONCURRENCY = int(os.environ.get("BENCH_CELERY_CONCURRENCY", "2"))
CHATS = 100  # seeded chats S1/S3/S5 write into
RECIPIENTS = 200  # notification recipients with a Telegram binding (S6)
S5_RATE = 50.0  # operator messages per second
S7_MESSAGES, S7_CHATS = 10_000, 100
ONLY = tuple(name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip())
BULK_SIZE = 100
S8_SCALE = float(os.environ.get("BENCH_S8_SCALE", "1"))


# --- processes ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(name: str, args: list[str], env: dict, procs: list) -> subprocess.Popen:
    """Start a server in its own process group (so stopping it stops its children too)."""
    log = open(RESULTS / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append((name, proc, log))
    return proc


def stop_all(procs: list) -> None:
    for _name, proc, _ in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for name, proc, log in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in 20 s: SIGKILL", file=sys.stderr)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def children(pid: int) -> list[int]:
    return [child for child, (parent, _cpu) in _proc_table().items() if parent == pid]


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return round(values.get("VmHWM", 0), 1), round(values.get("VmRSS", 0), 1)


def memory_report(gunicorn: subprocess.Popen, celery: subprocess.Popen) -> dict:
    """Largest peak (VmHWM) and current RSS of a gunicorn worker and of the Celery worker's processes."""
    report = {}
    for name, pids in (("gunicorn_worker", children(gunicorn.pid)),
                       ("celery_worker", [celery.pid, *children(celery.pid)])):
        readings = [memory_mb(pid) for pid in pids if Path(f"/proc/{pid}").exists()]
        report[name] = {"peak_mb": max((r[0] for r in readings), default=0),
                        "rss_mb": max((r[1] for r in readings), default=0), "processes": len(readings)}
    return report


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- cost per item: CPU from /proc, SQL statements ------------------------------------------------

def _proc_table() -> dict[int, tuple[int, float]]:
    """pid → (ppid, CPU seconds: utime + stime + cutime + cstime) of every process we may read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]) / CLOCK_TICKS)
    return table


def _tree_cpu(table: dict, root: int) -> float:
    """CPU seconds of a process and all its descendants (each live process once; exited children through
    their parent's cutime/cstime)."""
    pids, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in pids:
                pids.add(pid)
                frontier.append(pid)
    return sum(table[pid][1] for pid in pids if pid in table)


def _pg_backends(conn) -> list[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
                        "AND application_name <> %s", [DB_NAME, RUNNER_APP]).fetchall()
    return [row[0] for row in rows]


class BackendWatch:
    """Samples the bench database's backends every `interval` s during a scenario, keeping the last CPU reading
    of every backend seen: one that starts and exits inside the scenario (a connection closed at CONN_MAX_AGE)
    still counts up to its last sample."""

    def __init__(self, interval: float = 0.25):
        import threading

        self.interval, self.seen, self._stop = interval, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psycopg

        with psycopg.connect(f"{PG_URL}/{DB_NAME}", autocommit=True, application_name=RUNNER_APP) as conn:
            while not self._stop.wait(self.interval):
                table = _proc_table()
                for pid in _pg_backends(conn):
                    if pid in table:
                        self.seen[pid] = table[pid][1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cost_sample(conn, gunicorn, celery) -> dict:
    from bench import sqlcount

    table = _proc_table()
    return {"gunicorn": _tree_cpu(table, gunicorn.pid), "celery": _tree_cpu(table, celery.pid),
            "pg": {pid: table[pid][1] for pid in _pg_backends(conn) if pid in table},
            "harness": sum(os.times()[:4]),  # this process (the fakes' threads) and the load generators it reaped
            "sql": sqlcount.total(SQL_COUNT_DIR), "at": time.monotonic()}


def cost_diff(before: dict, after: dict, items: int, watched: dict | None = None) -> dict:
    """CPU ms and SQL statements per item between two samples (`watched`: backends seen in between)."""
    last = {**(watched or {}), **after["pg"]}
    pg = sum(cpu - before["pg"].get(pid, 0.0) for pid, cpu in last.items())
    cpu = {"gunicorn": after["gunicorn"] - before["gunicorn"], "celery": after["celery"] - before["celery"],
           "postgres": pg}
    per = max(items, 1)
    report = {f"cpu_ms_per_item_{name}": round(1000 * value / per, 3) for name, value in cpu.items()}
    report.update({
        "items": items, "cpu_ms_per_item": round(1000 * sum(cpu.values()) / per, 3),
        "cpu_ms_per_item_web_worker": round(1000 * (cpu["gunicorn"] + cpu["celery"]) / per, 3),
        "sql_per_item": round((after["sql"] - before["sql"]) / per, 2),
        # not in the totals: what the bench itself spent on the same two cores (load generator, fakes, sampling)
        "cpu_ms_per_item_harness": round(1000 * (after["harness"] - before["harness"]) / per, 3),
        "pg_backends_exited": len(set(before["pg"]) | set(last)) - len(after["pg"]),
        "measured_s": round(after["at"] - before["at"], 2),
    })
    return report


# --- database, environment, seed --------------------------------------------------------------

def database_recreate() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def production_layout(port: int) -> dict:
    """The `web` and `worker` commands of docker-compose.yml, as production runs them (gunicorn.conf.py: the JSON
    error worker and the access log; Celery at INFO without gossip, mingle and heartbeat), and the environment that
    changes what those processes do: multiprocess metrics, one directory per process group, and the worker's
    exporter. Only what this machine decides is replaced: the bind address, the gunicorn workers and the Celery
    concurrency (BENCH_WORKERS, BENCH_CELERY_CONCURRENCY), the metrics port."""
    import yaml

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    web, worker = list(services["web"]["command"]), list(services["worker"]["command"])
    web[-1:-1] = ["--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]  # flags win over gunicorn.conf.py
    worker[worker.index("--concurrency") + 1] = str(CELERY_CONCURRENCY)
    metrics = ARTIFACTS / "metrics"
    return {
        "web": [PY, "-m", *web], "worker": [PY, "-m", *worker],
        "web_env": {"PROMETHEUS_MULTIPROC_DIR": str(metrics / "web")},
        "worker_env": {"PROMETHEUS_MULTIPROC_DIR": str(metrics / "worker"), "METRICS_PORT": str(free_port()),
                       "METRICS_ADDR": "127.0.0.1"},
    }


def stack_env(telegram: FakeTelegram) -> dict:
    """Production settings (DEBUG off, generated key), local fakes, limits out of the way."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"{PG_URL}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "PROVIDER_ALLOW_LOOPBACK": "1",
        "TELEGRAM_API_BASE_URL": telegram.url,
        "TELEGRAM_BOT_TOKEN": "123456:bench-token",
        "THROTTLE_RATE_PRINCIPAL": "10000000/min",
        "TELEGRAM_RATE_LIMIT_GLOBAL": "100000",
        "TELEGRAM_RATE_LIMIT_PER_CHAT": "100000",
        "BENCH_ENDPOINTS": "1",
        "DB_CONN_MAX_AGE": os.environ.get("BENCH_DB_CONN_MAX_AGE", "60"),
        "BENCH_SQL_COUNT_DIR": str(SQL_COUNT_DIR),
        "DELIVERY_FEED_DRAINERS": str(CELERY_CONCURRENCY),  # the worker processes serving the queue (scaling.md)
    }


def history(count: int, chats: int) -> list[dict]:
    """What the fake provider's getMessageHistory pages through (S7)."""
    return [{"id": f"hist-{i}", "chat": {"id": f"hist-chat-{i % chats}", "title": f"История {i % chats}",
                                         "participants": [{"id": "client", "name": "Клиент"},
                                                          {"id": "operator", "name": "Оператор"}]},
             "direction": "incoming" if i % 3 else "outgoing", "senderId": "client",
             "text": f"Сообщение из истории №{i}", "sentAt": "2026-01-01T10:00:00Z"} for i in range(count)]


def seed(fake: FakeProvider) -> dict:
    """Provider + configuration → fake provider, tenant + integration token, chats, service accounts,
    recipients with Telegram bindings. Runs in this process with the stack's settings."""
    from rest_framework_simplejwt.tokens import AccessToken

    from communications.models import ProviderConfiguration, TenantConfiguration
    from communications.services.conversations import chat_create
    from communications.services.providers import provider_register
    from communications.services.tokens import integration_token_issue
    from config.management.commands.create_service_account import service_account_ensure
    from notifications.models import Recipient
    from notifications.services import service_binding_set

    provider, _ = provider_register(code="bench", label="Провайдер бенчмарка")
    configuration = ProviderConfiguration.objects.create(
        provider=provider, app_code="bench", app_version="1.0.0", configuration_version="1.0.0",
        provider_label=provider.label, endpoints=fake.endpoints(), auth_header="X-API-Key",
        auth_key="bench-api-key-0123456789")
    tenant_id = uuid.uuid4()
    TenantConfiguration.objects.create(tenant_id=tenant_id, provider=provider, configuration=configuration,
                                       app_version="1.0.0")
    token = integration_token_issue(tenant_id=tenant_id, provider=provider).value
    participants = [{"external_id": f"user-{i}", "name": f"Участник {i}"} for i in range(2)]
    for i in range(CHATS):
        chat_create(tenant_id=tenant_id, provider=provider,
                    chat={"external_id": f"chat-{i}", "title": f"Чат {i}", "participants": participants})
    recipients = []
    for i in range(RECIPIENTS):
        recipient = Recipient.objects.create(role="manager", name=f"Менеджер {i}", email=f"m{i}@example.com")
        service_binding_set(recipient=recipient, service="telegram", service_user_id=str(700000 + i))
        recipients.append(str(recipient.pk))

    def jwt(name, role):
        return str(AccessToken.for_user(service_account_ensure(username=name, role=role)))

    return {"provider": provider, "configuration": configuration, "tenant_id": str(tenant_id), "token": token,
            "crm_token": jwt("bench-crm", "crm"), "notifications_token": jwt("bench-notifications", "notifications"),
            "recipients": recipients}


# --- scenarios --------------------------------------------------------------------------------

def loadgen(base: str, scenario: str, *, token: str = "", params: dict | None = None, concurrency: int = CONCURRENCY,
            duration: float = DURATION, rate: float = 0, items: int = 1) -> dict:
    args = [PY, str(ROOT / "bench" / "loadgen.py"), "--url", base, "--scenario", scenario,
            "--params", json.dumps(params or {}), "--concurrency", str(concurrency), "--duration", str(duration),
            "--rate", str(rate), "--items-per-request", str(items)]
    if token:
        args += ["--token", token]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120, check=True)
    return json.loads(done.stdout)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))], 2)


def s5_outbound(base, seeded, fake, rate: float = S5_RATE, duration: float = DURATION) -> dict:
    """Operator messages at `rate`/s → sendMessage at the fake provider; end-to-end latency."""
    before = len(fake.accepted_list("sendMessage"))
    result = loadgen(base, "s5", token=seeded["crm_token"], rate=rate, concurrency=8, duration=duration,
                     params={"chats": CHATS, "tenant_id": seeded["tenant_id"], "provider_code": "bench"})
    wait_for(lambda: len(fake.accepted_list("sendMessage")) >= before + result["ok"], 120, "sendMessage calls")
    arrived = fake.accepted_list("sendMessage")[before:]
    sent_at = [float(r.json["text"].split()[1]) for r in arrived]
    latencies = [(r.at - t) * 1000 for r, t in zip(arrived, sent_at, strict=True)]
    span = max(r.at for r in arrived) - min(sent_at)
    result.update({"delivered": len(arrived), "delivered_per_s": round(len(arrived) / span, 1),
                   "e2e_p50_ms": pct(latencies, 50), "e2e_p95_ms": pct(latencies, 95),
                   "e2e_p99_ms": pct(latencies, 99), "e2e_max_ms": pct(latencies, 100),
                   "e2e_mean_ms": round(statistics.fmean(latencies), 2)})
    return result


def s6_notifications(base, seeded, telegram) -> dict:
    before = len(telegram.calls("sendMessage"))
    result = loadgen(base, "s6", token=seeded["notifications_token"], params={"recipients": seeded["recipients"]})
    result["received_by_fake_telegram"] = len(telegram.calls("sendMessage")) - before
    return result


def idle(seconds: float = 5.0) -> dict:
    """No load: what the stack's processes cost by themselves (per second), so that a paced scenario's CPU per
    item can be read as its calls' own cost plus this divided by its rate."""
    time.sleep(seconds)
    return {"seconds": seconds}


def s7_initial_sync(seeded, fake) -> dict:
    """A second tenant activates the integration; its history (10,000 messages) is imported."""
    from django.conf import settings

    from communications.models import InitialSync, Message, TenantConfiguration
    from communications.services.tokens import integration_token_issue

    fake.history = history(S7_MESSAGES, S7_CHATS)
    # Pages encoded before the clock starts: a provider builds them on its own machine, not on the stack's cores.
    fake.history_prepare(settings.INITIAL_SYNC_PAGE_SIZE)
    tenant_id = uuid.uuid4()
    TenantConfiguration.objects.create(tenant_id=tenant_id, provider=seeded["provider"],
                                       configuration=seeded["configuration"], app_version="1.0.0")
    started = time.time()
    integration_token_issue(tenant_id=tenant_id, provider=seeded["provider"])
    sync = wait_for(lambda: InitialSync.objects.filter(tenant_id=tenant_id,
                                                       status=InitialSync.Status.COMPLETED).first(), 600,
                    "the initial sync to complete", interval=0.1)
    finished = time.time()
    importing = (sync.finished_at - sync.started_at).total_seconds()
    stored = Message.objects.filter(tenant_id=tenant_id).count()
    return {"messages": sync.messages_seen, "created": sync.messages_created, "stored": stored,
            "pages": sync.pages_done, "import_s": round(importing, 2),
            "items_per_s": round(sync.messages_seen / importing, 1),
            "from_token_issue_s": round(finished - started, 2)}


def s8_volume(tenant_id: uuid.UUID, scale: float):
    """S8's volume: the bench tenant one of 50; the seeded chats a day and more old (`s8_seed`)."""
    from config.testing.volume import Volume

    return Volume(tenants=[tenant_id, *(uuid.uuid4() for _ in range(49))], chats=max(int(100_000 * scale), 50),
                  messages_per_chat=10, deliveries=max(int(200_000 * scale), 2), prefix="s8", history_days=1)


def s8_seed(seeded) -> dict:
    """Volume (issue 19): 1,000,000 messages in 100,000 chats over 50 tenants (the bench tenant one of them) and
    200,000 delivery rows, half final, times BENCH_S8_SCALE. The seeded chats are history, a day and more old: the
    chat list's first pages show the same (live) chats as on the empty database, so S8 compares the same page over
    more data, not a page of other chats (they filled those pages until session 17). Then VACUUM ANALYZE, as
    autovacuum would, and a CHECKPOINT: tables that grew over months have long been written out, while a seed of a
    million rows in 30 s leaves a spread checkpoint writing through the scenarios that follow (commits then wait on
    the disk)."""
    import psycopg
    from django.db import connection, transaction

    from config.testing.volume import volume_seed

    volume = s8_volume(uuid.UUID(seeded["tenant_id"]), S8_SCALE)
    started = time.monotonic()
    with transaction.atomic():
        counts = volume_seed(connection, provider_id=seeded["provider"].pk, volume=volume)
    with psycopg.connect(f"{PG_URL}/{DB_NAME}", autocommit=True, application_name=RUNNER_APP) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    counts["seed_s"] = round(time.monotonic() - started, 1)
    counts["scale"] = S8_SCALE
    return counts


def items_of(name: str, result: dict) -> int:
    if name.startswith(("S5", "S8 S5")):
        return result["delivered"]
    if name.startswith("S7"):
        return result["messages"]
    if name.startswith("Idle"):
        return int(result["seconds"])  # per second
    return result.get("items", 0)


def table(results: dict) -> str:
    rows = [f"{'scenario':<26}{'req/s':>8}{'items/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}"
            f"{'CPU ms/item':>12}{'web+wrk':>9}{'pg':>7}{'harness':>8}{'SQL/item':>9}{'gunicorn MB':>12}{'celery MB':>10}"]
    for name, r in results["scenarios"].items():
        mem, cost = r.get("memory", {}), r.get("cost", {})
        rows.append(f"{name[:26]:<26}{r.get('req_per_s', ''):>8}{r.get('items_per_s', ''):>9}{r.get('p50_ms', ''):>8}"
                    f"{r.get('p99_ms', ''):>8}{r.get('errors', ''):>5}{cost.get('cpu_ms_per_item', ''):>12}"
                    f"{cost.get('cpu_ms_per_item_web_worker', ''):>9}{cost.get('cpu_ms_per_item_postgres', ''):>7}"
                    f"{cost.get('cpu_ms_per_item_harness', ''):>8}{cost.get('sql_per_item', ''):>9}"
                    f"{mem.get('gunicorn_worker', {}).get('peak_mb', ''):>12}"
                    f"{mem.get('celery_worker', {}).get('peak_mb', ''):>10}")
    for name, s5 in results["scenarios"].items():
        if "S5" in name:
            rows.append(f"{name} end to end: {s5['delivered']} delivered, {s5['delivered_per_s']}/s, "
                        f"p50 {s5['e2e_p50_ms']} ms, p95 {s5['e2e_p95_ms']} ms, p99 {s5['e2e_p99_ms']} ms")
    rows.append("ratios (this run): " + ", ".join(f"{k} {v}" for k, v in results["ratios"].items()))
    rows.append("goals:")
    for goal in results["goals"]:
        rows.append(f"  {'MET ' if goal['met'] else 'MISS'} {goal['goal']}: {goal['value']}")
    return "\n".join(rows)


def _ratio(a, b) -> float | None:
    return round(a / b, 3) if a is not None and b else None


# Each S8 scenario against the same scenario on the empty database: its run just before the seed where there is
# one (minutes apart, the machine's speed drifts: compare what ran close together), else its first run.
S8_FLOOR = ("S4 floor (before the seed)", "S4 floor (after S8)")
PING, PING_PACED = "loadgen ceiling (/bench/ping)", f"/bench/ping at {S5_RATE:.0f} req/s"
S8_PAIRS = (("S8 S1 ingest", ("S1 ingest (again)", "S1 ingest"), "p99_ms"),
            ("S8 S5 outbound", ("S5 outbound (again)", "S5 outbound"), "e2e_p99_ms"),
            ("S8 chat list", ("Chat list (again)", "Chat list (operator)"), "p99_ms"))


def ratios(sc: dict) -> dict:
    """The issue's ratios, each from this one run (None when a scenario did not run)."""
    def get(name, key):
        return sc.get(name, {}).get(key)

    def cpu(name, key="cpu_ms_per_item"):
        return sc.get(name, {}).get("cost", {}).get(key)

    def minus(a, b):
        return round(a - b, 3) if a is not None and b is not None else None

    found = {
        "S1/S4": _ratio(get("S1 ingest", "req_per_s"), get("S4 floor", "req_per_s")),
        "S5 delivered/S4": _ratio(get("S5 outbound", "delivered_per_s"), get("S4 floor", "req_per_s")),
        "S5 capacity delivered/S4": _ratio(get("S5 outbound, capacity", "delivered_per_s"),
                                           get("S4 floor", "req_per_s")),
        "S6/S4": _ratio(get("S6 notifications", "req_per_s"), get("S4 floor", "req_per_s")),
        "S7/S3": _ratio(get("S7 initial sync", "items_per_s"), get("S3 bulk", "items_per_s")),
        "S3/S1 items": _ratio(get("S3 bulk", "items_per_s"), get("S1 ingest", "items_per_s")),
        "CPU S1/S4": _ratio(cpu("S1 ingest"), cpu("S4 floor")),
        "CPU S6/S4": _ratio(cpu("S6 notifications"), cpu("S4 floor")),
        # The reference itself, measured again after S6: how far the VM moved within this run (not a goal).
        "CPU S4 again/S4": _ratio(cpu("S4 floor (again)"), cpu("S4 floor")),
        # Not goals: the S5 goal of <= 6 ms reads S5 at 50 msg/s, where each message wakes the web and the worker
        # from idle. The same no-database view paced and in a stream shows what such a wake costs on this VM.
        "ping: web CPU ms at 50 req/s minus at capacity": minus(cpu(PING_PACED, "cpu_ms_per_item_gunicorn"),
                                                                 cpu(PING, "cpu_ms_per_item_gunicorn")),
        "S5: web + worker CPU ms at capacity": cpu("S5 outbound, capacity", "cpu_ms_per_item_web_worker"),
        "S5: web + worker CPU ms at 50 msg/s minus at capacity": minus(
            cpu("S5 outbound", "cpu_ms_per_item_web_worker"),
            cpu("S5 outbound, capacity", "cpu_ms_per_item_web_worker")),
    }
    for big, candidates, p99 in S8_PAIRS:
        empty = next((name for name in candidates if name in sc), candidates[-1])
        found[f"CPU {big}/empty"] = _ratio(cpu(big), cpu(empty))
        found[f"p99 {big}/empty"] = _ratio(get(big, p99), get(empty, p99))
    # Not goals: the floor after S8 against the floor before the seed (the VM's drift across S8), and each S8 CPU
    # ratio divided by it (what is left for the data's growth).
    drift = _ratio(cpu(S8_FLOOR[1]), cpu(S8_FLOOR[0]))
    if drift:
        found["CPU S4 floor after S8/before the seed"] = drift
        for big, _, _ in S8_PAIRS:
            if found[f"CPU {big}/empty"]:
                found[f"CPU {big}/empty, over the floor's drift"] = round(found[f"CPU {big}/empty"] / drift, 3)
    return {k: v for k, v in found.items() if v is not None}


def goals(sc: dict, found: dict) -> list[dict]:
    def ratio_goal(key, text, minimum=None, maximum=None):
        value = found.get(key)
        if value is None:
            return []
        met = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
        return [{"goal": text, "value": value, "met": met}]

    result = [*ratio_goal("S1/S4", "S1 / S4 >= 0.6", minimum=0.6),
              # As written (at the 50 msg/s offered) it cannot hold: 0.5 x S4 is more than is offered. Measured also
              # where it can: at capacity (a closed loop of operators).
              *ratio_goal("S5 delivered/S4", "S5 delivered/s / S4 >= 0.5", minimum=0.5),
              *ratio_goal("S5 capacity delivered/S4", "S5 capacity: delivered/s / S4 >= 0.5", minimum=0.5),
              *ratio_goal("S6/S4", "S6 / S4 >= 0.5", minimum=0.5),
              *ratio_goal("S7/S3", "S7 / S3 items/s >= 1.5", minimum=1.5),
              *ratio_goal("S3/S1 items", "S3 messages/s >= 10x S1", minimum=10)]
    if "S5 outbound" in sc:
        s5 = sc["S5 outbound"]
        result.append({"goal": "S5 e2e p99 < 100 ms at 50 msg/s", "value": s5["e2e_p99_ms"],
                       "met": s5["e2e_p99_ms"] < 100})
        web_worker = s5["cost"]["cpu_ms_per_item_web_worker"]
        result.append({"goal": "S5 CPU ms per delivered call, web + worker <= 6", "value": web_worker,
                       "met": web_worker <= 6})
    for big, _empty, _p99 in S8_PAIRS:
        result += ratio_goal(f"CPU {big}/empty", f"{big}: CPU/item within 15% of the empty run", maximum=1.15)
        result += ratio_goal(f"p99 {big}/empty", f"{big}: p99 within 15% of the empty run", maximum=1.15)
    return result


def main() -> int:
    import psycopg

    RESULTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SQL_COUNT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in SQL_COUNT_DIR.iterdir():
        stale.unlink()
    procs: list = []
    fake, telegram = FakeProvider(keep_alive=True).start(), FakeTelegram().start()
    try:
        print(f"== fresh database {DB_NAME}, Redis {REDIS_URL}")
        database_recreate()
        env = stack_env(telegram)
        os.environ.update(env)
        os.environ["LOG_LEVEL"] = "WARNING"  # this process's own logs; the stack logs at production's level
        os.environ.pop("BENCH_SQL_COUNT_DIR")  # this process's own statements are not the stack's
        os.environ["PGAPPNAME"] = RUNNER_APP  # nor are its backends (libpq reads it)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        seeded = seed(fake)
        from django.db import connections

        connections.close_all()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        layout = production_layout(port)
        gunicorn = spawn("gunicorn", layout["web"], {**env, **layout["web_env"]}, procs)
        celery = spawn("celery", layout["worker"], {**env, **layout["worker_env"]}, procs)
        print(f"== compose's web ({WORKERS} gunicorn workers) on {base}, compose's worker (prefork x{CELERY_CONCURRENCY})")
        wait_for(lambda: _status(base + "/healthz") == 200, 60, "gunicorn /healthz")
        from config.celery import app

        app.send_task("config.ping").get(timeout=60)
        wait_for(lambda: len(fake.accepted_list("getChannels")) >= 1, 30, "the seeded tenant's getChannels")
        print(f"== warm-up, then scenarios of {DURATION:.0f} s, concurrency {CONCURRENCY}")
        s1_params = {"chats": CHATS, "bulk_size": BULK_SIZE}
        chat_params = {"tenant_id": seeded["tenant_id"], "provider_code": "bench"}
        loadgen(base, "s1", token=seeded["token"], params=s1_params, duration=3)
        loadgen(base, "s4", token=seeded["token"], duration=2)
        loadgen(base, "chats", token=seeded["crm_token"], params=chat_params, duration=1)
        s5_outbound(base, seeded, fake, rate=20, duration=2)  # warm-up: the first provider calls of each worker process

        def s1():
            return loadgen(base, "s1", token=seeded["token"], params=s1_params)

        def chat_list():
            return loadgen(base, "chats", token=seeded["crm_token"], params=chat_params)

        def floor():
            return loadgen(base, "s4", token=seeded["token"])

        plan = [
            (PING, lambda: loadgen(base, "ping")),
            ("/healthz (DB + broker)", lambda: loadgen(base, "healthz")),
            ("S1 ingest", s1),
            ("S2 ingest, new chat", lambda: loadgen(base, "s2", token=seeded["token"])),
            ("S3 bulk", lambda: loadgen(base, "s3", token=seeded["token"], params=s1_params, items=BULK_SIZE)),
            ("S4 floor", floor),
            ("Idle stack, per second", idle),
            ("S5 outbound", lambda: s5_outbound(base, seeded, fake)),
            # The same view as the loadgen ceiling, paced as S5 is: what this VM adds to the CPU of a request that
            # arrives alone (its process woken from idle) over one that arrives in a stream (not a goal).
            (PING_PACED, lambda: loadgen(base, "ping", rate=S5_RATE, concurrency=8)),
            ("S5 outbound at 20 msg/s", lambda: s5_outbound(base, seeded, fake, rate=20)),
            # Capacity: 8 operators sending as fast as they are answered (closed loop), delivered/s against S4.
            ("S5 outbound, capacity", lambda: s5_outbound(base, seeded, fake, rate=0)),
            ("S6 notifications", lambda: s6_notifications(base, seeded, telegram)),
            ("S4 floor (again)", floor),
            ("S7 initial sync", lambda: s7_initial_sync(seeded, fake)),
            ("Chat list (operator)", chat_list),
            ("S1 ingest (again)", s1),
        ]
        if S8_SCALE > 0:
            # The floor beside the seed, before and after (it touches none of the seeded tables): how far the VM
            # itself moved across S8, which the S8 pairs would otherwise read as growth.
            plan += [("S5 outbound (again)", lambda: s5_outbound(base, seeded, fake)), ("Chat list (again)", chat_list),
                     (S8_FLOOR[0], floor), ("S8 seed", lambda: s8_seed(seeded)), ("S8 S1 ingest", s1),
                     ("S8 S5 outbound", lambda: s5_outbound(base, seeded, fake)), ("S8 chat list", chat_list),
                     (S8_FLOOR[1], floor)]
        if ONLY:
            wanted = ONLY + (("S1 ingest", "S5 outbound", "Chat list", "S8 S", *S8_FLOOR) if "S8" in ONLY else ())
            plan = [(name, run) for name, run in plan if name.startswith(wanted)]
        scenarios = {}
        with psycopg.connect(f"{PG_URL}/{DB_NAME}", autocommit=True, application_name=RUNNER_APP) as sampler:
            autovacuum = sampler.execute("SHOW autovacuum").fetchone()[0] == "on"
            for name, run in plan:
                if not autovacuum:
                    # What autovacuum (on in production) would have done by now: statistics of the tables the
                    # scenarios before grew. Without any, PostgreSQL plans with default guesses (a provider's
                    # every message read to check one id). Outside the measurement.
                    sampler.execute("ANALYZE")
                load = os.getloadavg()[0]
                before = cost_sample(sampler, gunicorn, celery)
                with BackendWatch() as watch:
                    result = run()
                if name != "S8 seed":
                    result["cost"] = cost_diff(before, cost_sample(sampler, gunicorn, celery), items_of(name, result),
                                               watch.seen)
                result["loadavg_1m_before"] = round(load, 2)
                result["memory"] = memory_report(gunicorn, celery)
                scenarios[name] = result
                print(f"  {name}: {json.dumps({k: v for k, v in result.items() if k != 'memory'})}")
        results = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "stack": {"gunicorn_workers": WORKERS, "layout": "docker-compose.yml web + worker commands",
                      "web_command": layout["web"][2:], "worker_command": layout["worker"][2:],
                      "celery_concurrency": CELERY_CONCURRENCY, "concurrency": CONCURRENCY, "duration_s": DURATION,
                      "s5_rate_per_s": S5_RATE, "bulk_size": BULK_SIZE, "seeded_chats": CHATS,
                      "db_conn_max_age": env["DB_CONN_MAX_AGE"], "s8_scale": S8_SCALE, "only": list(ONLY),
                      "postgres_autovacuum": autovacuum,  # off: ANALYZE before each scenario instead
                      "sql_count": "statements through Django's cursor in gunicorn + Celery (bench/sqlcount.py); "
                                   "pg_stat_statements is not preloaded on this server"},
            "scenarios": scenarios,
        }
        results["ratios"] = ratios(scenarios)
        results["goals"] = goals(scenarios, results["ratios"])
        text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        raw = ARTIFACTS / f"{results['generated_at'].replace(':', '')}{'-partial' if ONLY else ''}.json"
        raw.write_text(text)
        output = RESULTS / ("partial.json" if ONLY else "latest.json")
        output.write_text(text)
        print(table(results))
        print(f"== wrote {output} and {raw}")
        return 0
    finally:
        stop_all(procs)
        fake.stop()
        telegram.stop()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
