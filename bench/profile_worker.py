"""The Celery worker's own cost per message (issue 19, S5 worker side): a prefork worker (`-c 1`) on the bench
database, N `communications.delivery_send` messages of one final row (the task only claims: the row is final),
then N `config.ping` without result, without and with the delivery task's time limits; CPU of the worker's main process and of its pool child per message, from /proc.

Run after `bench/run.py` (it reuses the bench database and a flushed Redis DB):
    BENCH_DB=sbercrm_bench BENCH_REDIS_URL=redis://127.0.0.1:6379/14 python bench/profile_worker.py
PROFILE_N (2000) messages of each; WORKER_PROFILE=1: also cProfile the child (thread CPU) and print its top."""

import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = os.environ.get("BENCH_DB", "sbercrm_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
N = int(os.environ.get("PROFILE_N", "2000"))
PROFILE = os.environ.get("WORKER_PROFILE") == "1"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:13]) / TICKS


def main() -> None:
    profile_dir = tempfile.mkdtemp(prefix="worker-profile-")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))},
           "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
           "DATABASE_URL": f"{PG_URL}/{DB_NAME}", "REDIS_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL,
           "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60", "WORKER_PROFILE_DIR": profile_dir}
    os.environ.update(env)
    import django

    django.setup()
    import redis

    from communications.models import Delivery
    from config.celery import app

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    final = Delivery.objects.filter(status="delivered").values_list("pk", "kind").first()
    assert final, "run bench/run.py (S5) on this database first"
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1", "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle"] + (["-I", "bench.worker_cprofile"] if PROFILE else [])
    worker = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
    try:
        app.send_task("config.ping").get(timeout=60)
        child = int(subprocess.check_output(["pgrep", "-P", str(worker.pid)]).split()[0])

        def idle():
            while client.llen("celery") or client.hlen("unacked"):
                time.sleep(0.05)
            time.sleep(0.5)

        for name, send in (("delivery_send (final row)",
                            lambda: app.send_task("communications.delivery_send", args=[final[0], final[1]])),
                           ("config.ping (no result)", lambda: app.send_task("config.ping", ignore_result=True)),
                           ("config.ping (+ time limits)", lambda: app.send_task(
                               "config.ping", ignore_result=True, soft_time_limit=120, time_limit=150))):
            for _ in range(50):  # warm-up
                send()
            idle()
            before = cpu(worker.pid), cpu(child)
            for _ in range(N):
                send()
            idle()
            main_ms, child_ms = ((cpu(worker.pid) - before[0]) * 1000 / N, (cpu(child) - before[1]) * 1000 / N)
            print(f"{name:28} CPU ms per message: main {main_ms:.3f}, child {child_ms:.3f}, "
                  f"total {main_ms + child_ms:.3f}  (load {os.getloadavg()[0]:.1f})")
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
    if PROFILE:
        for path in Path(profile_dir).glob("*.prof"):
            stats = pstats.Stats(str(path))
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
