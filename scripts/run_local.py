"""`make run`: runserver + a Celery worker + beat, with an embedded broker (no external service).

The broker is kombu's filesystem transport in `.celery-broker/` (results in `.celery-results/`), so
async notification sends, provider calls and their retries really run in the background, and the
sweepers (beat) pick up whatever a stopped process left behind. SQLite stays the database.
SIGINT, SIGTERM and SIGHUP stop every child (each runs in its own process group) and wait for them; so does
the exit of whoever started us (`make run` killed, the terminal closed), see scripts/processes.py.

    python scripts/run_local.py [--host 127.0.0.1] [--port 8000] [--no-server]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import ignore_stop_signals, on_stop_signals, orphaned, stop_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def local_env(root: Path = ROOT) -> dict:
    broker_dir = Path(os.environ.get("CELERY_FILESYSTEM_BROKER_DIR") or root / ".celery-broker")
    results = root / ".celery-results"
    results.mkdir(exist_ok=True)
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1"), "DJANGO_SETTINGS_MODULE": "config.settings",
           "CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_BROKER_DIR": str(broker_dir),
           "CELERY_RESULT_BACKEND": f"file://{results}"}
    env.pop("REDIS_URL", None)  # the cache stays in-process (locmem)
    return env


def commands(host: str, port: int, server: bool) -> dict[str, list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    children = {
        "worker": [*celery, "worker", "-P", "solo", "-l", "INFO", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"],
        "beat": [*celery, "beat", "-l", "INFO", "-s", str(ROOT / ".celery-beat-schedule")],
    }
    if server:
        children["web"] = [sys.executable, "manage.py", "runserver", f"{host}:{port}"]
    return children


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-server", action="store_true", help="worker and beat only")
    args = parser.parse_args(argv)
    env = local_env()
    parent = os.getppid()
    children: dict[str, subprocess.Popen] = {}
    stopping = []
    on_stop_signals(lambda signum, frame: stopping.append(signum))
    code = 0
    try:
        for name, command in commands(args.host, args.port, not args.no_server).items():
            # noqa below: our own interpreter, celery and manage.py; no user input
            children[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
            print(f"run: {name} started (pid {children[name].pid})", flush=True)
        while not stopping:
            if orphaned(parent):
                print("run: the parent process is gone; stopping", flush=True)
                break
            exited = [name for name, child in children.items() if child.poll() is not None]
            if exited:
                print(f"run: {', '.join(exited)} exited; stopping the rest", flush=True)
                code = 1
                break
            time.sleep(0.2)
    finally:
        ignore_stop_signals()
        stop_all(children.values())
    print("run: all stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
