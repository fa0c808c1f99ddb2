"""Contract fuzzing over HTTP: schemathesis against a live gunicorn, every API surface.

    .venv/bin/python scripts/fuzz.py [--max-examples N] [--max-time S] [--surface NAME ...]

It creates a fresh PostgreSQL database (FUZZ_DATABASE_URL, default .../sbercrm_fuzz), migrates
it, seeds the reliability suite's world (two tenants x two providers, developers, service
accounts, a recipient), starts gunicorn with DEBUG=0 on a free loopback port and runs
`schemathesis run` with every phase (examples, coverage, fuzzing, stateful) and every check
against each surface, with a token of that surface's legitimate caller. Reports land in
artifacts/fuzz/<surface>/. Exit code 0 only when no surface has a failure.

Provider calls are queued in a Redis database no worker reads (FUZZ_REDIS_URL), so the
fuzzer exercises the API alone.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.testing.fake_onesignal import FakeOneSignal  # noqa: E402
from config.testing.fake_telegram import FakeTelegram  # noqa: E402
from config.testing.fake_vk import FakeVK  # noqa: E402
from config.testing.smtp_sink import SmtpSink  # noqa: E402

PY = sys.executable
ARTIFACTS = ROOT / "artifacts" / "fuzz"

# name -> (schema document, path regex, principal of the world whose token is sent)
SURFACES = {
    "public": ("public", r"^/api/v1/", "integration:A-X"),
    "crm": ("internal", r"^/internal/v1/(operator/|integration-tokens)", "service:crm"),
    "marketplace-service": ("internal",
                            r"^/internal/v1/(providers|app-versions|tenant-configurations|marketplace/installations)",
                            "service:marketplace"),
    "developer": ("internal", r"^/internal/v1/marketplace/(?!installations)", "developer:dev-1"),
    "auth": ("internal", r"^/api/auth/", None),
    "notifications": ("notifications", r"^/notifications/", "service:notifications"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_recreate(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    with psycopg.connect(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
                         password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


SEED = """
import json, sys
from config.tests.reliability.callers import world_build
world = world_build()
json.dump(world.tokens, sys.stdout)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_MAX_EXAMPLES", 30)))
    parser.add_argument("--max-time", type=int, default=int(os.environ.get("FUZZ_MAX_TIME", 120)),
                        help="seconds per surface")
    parser.add_argument("--surface", action="append", choices=sorted(SURFACES))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 1)))
    args = parser.parse_args()

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "fuzz-only-secret-key-not-for-production-0123456789abcdef"),
        "DATABASE_URL": os.environ.get("FUZZ_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sbercrm_fuzz"),
        "REDIS_URL": "",
        "CELERY_BROKER_URL": os.environ.get("FUZZ_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THROTTLE_RATE_PRINCIPAL": "1000000/min",
        "THROTTLE_RATE_ANON": "1000000/min",
        "PROVIDER_ALLOW_LOOPBACK": "1",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback; TLS ends at the proxy in production
        # The login lockout (django-axes) would answer 429 after 10 failed logins per username/client,
        # and the fuzzer fails logins by the thousand from one address: lift it for this run only.
        "AXES_FAILURE_LIMIT": "1000000000",
    }
    # Channels of /notifications/send (it delivers synchronously) go to the test suite's loopback fakes,
    # so no call leaves the machine and a send succeeds as in production.
    fakes = [SmtpSink(), FakeOneSignal(), FakeTelegram(), FakeVK()]
    for fake in fakes:
        fake.start()
    smtp, onesignal, telegram, vk = fakes
    media = tempfile.TemporaryDirectory(prefix="fuzz-media-")  # uploaded files, gone after the run
    env.update({"MEDIA_ROOT": media.name,
                "EMAIL_HOST": smtp.host, "EMAIL_PORT": str(smtp.port), "EMAIL_USE_TLS": "0",
                "ONESIGNAL_API_BASE_URL": onesignal.url, "ONESIGNAL_APP_ID": "fuzz-app", "ONESIGNAL_API_KEY": "fuzz",
                "TELEGRAM_API_BASE_URL": telegram.url, "TELEGRAM_BOT_TOKEN": "1:fuzz",
                "VK_API_BASE_URL": vk.url, "VK_GROUP_TOKEN": "fuzz", "VK_GROUP_ID": "1"})
    try:
        return run(args, env)
    finally:
        for fake in fakes:
            fake.stop()
        media.cleanup()


def run(args, env: dict) -> int:
    database_recreate(env["DATABASE_URL"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    seeded = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [PY, "manage.py", "shell", "-v", "0", "-c", SEED], cwd=ROOT, env={**env, "DEBUG": "1"},
        check=True, capture_output=True, text=True)
    tokens = json.loads(seeded.stdout.strip().splitlines()[-1])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server_log = open(ARTIFACTS / "gunicorn.log", "w")  # noqa: SIM115 - open while the server runs
    server = subprocess.Popen(  # noqa: S603
        [PY, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True,
        stdout=server_log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 (loopback)
                break
            except OSError:
                time.sleep(0.2)
        results = {}
        for name in args.surface or SURFACES:
            document, regex, principal = SURFACES[name]
            out = ARTIFACTS / name
            out.mkdir(parents=True, exist_ok=True)
            command = [str(Path(PY).parent / "schemathesis"), "run", f"{base}/developers/openapi/{document}.json",
                       "--url", base, "--include-path-regex", regex,
                       "--phases", "examples,coverage,fuzzing,stateful",  # every check is on by default;
                       # `--checks all` would override the per-operation exceptions in schemathesis.toml
                       "--max-examples", str(args.max_examples), "--max-time", str(args.max_time),
                       "--seed", str(args.seed), "--workers", "1", "--suppress-health-check", "all",
                       "--report", "junit", "--report-dir", str(out), "--no-color"]
            if principal:
                command += ["--header", f"Authorization: Bearer {tokens[principal]}"]
            print(f"== {name}: {' '.join(command[:2])} … {regex}", flush=True)
            with open(out / "output.txt", "w") as log:
                code = subprocess.run(command,  # noqa: S603
                                       cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
            tail = (out / "output.txt").read_text().strip().splitlines()[-3:]
            results[name] = code
            print(f"   exit {code}: {' | '.join(tail)}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server_log.close()
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()  # the provider calls queued by the run
    failed = [name for name, code in results.items() if code != 0]
    print("FUZZ:", "all surfaces clean" if not failed else f"failures in {', '.join(failed)} (artifacts/fuzz/)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
