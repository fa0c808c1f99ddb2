#!/usr/bin/env bash
# The whole suite: lint, migrations check, schema check, pytest.
# Uses PostgreSQL + Redis when reachable (integration tests with a real Celery
# worker run then); otherwise SQLite + eager Celery with a visible notice.
# REQUIRE_SERVICES=1 turns missing services into an error.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

export DEBUG=1
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key-not-for-production-use-0123456789}"
PG_URL="${TEST_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sbercrm}}"
REDIS_TEST_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}"

probe() {
  "$PY" - "$PG_URL" "$REDIS_TEST_URL" <<'PYEOF'
import sys
import dj_database_url, psycopg, redis
pg, rd = sys.argv[1], sys.argv[2]
cfg = dj_database_url.parse(pg)
ok = True
try:
    psycopg.connect(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
                    password=cfg["PASSWORD"] or None, dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc}".strip()); ok = False
try:
    redis.Redis.from_url(rd, socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"Redis unreachable: {exc}"); ok = False
sys.exit(0 if ok else 1)
PYEOF
}

if probe; then
  export DATABASE_URL="$PG_URL" REDIS_URL="$REDIS_TEST_URL" CELERY_BROKER_URL="$REDIS_TEST_URL" SERVICES_AVAILABLE=1
  echo "== services: PostgreSQL + Redis reachable; integration tests run with a real Celery worker"
else
  if [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "ERROR: REQUIRE_SERVICES=1 but PostgreSQL/Redis are unreachable" >&2
    exit 1
  fi
  export DATABASE_URL="sqlite:///$(pwd)/.test-db.sqlite3" REDIS_URL="" CELERY_BROKER_URL="" SERVICES_AVAILABLE=0
  echo "############################################################################"
  echo "## NOTICE: PostgreSQL/Redis unreachable -> SQLite + eager Celery.          ##"
  echo "## Integration tests (real worker, Redis, PostgreSQL concurrency) are SKIPPED.##"
  echo "############################################################################"
fi

# Browser tests drive Debian's Chromium through Playwright (no CDN download needed).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Chromium for the browser tests (apt-get install chromium)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ERROR: /usr/bin/chromium is missing; install it (sudo apt-get install -y chromium)" >&2
    exit 1
  fi
fi

# The edge proxy tests run Debian's nginx; without it they are skipped with a NOTICE.
bash scripts/install-nginx.sh || true

echo "== ruff"
.venv/bin/ruff check .
echo "== makemigrations --check"
DATABASE_URL="sqlite:///:memory:" "$PY" manage.py makemigrations --check --dry-run
echo "== spectacular --validate --fail-on-warn"
"$PY" manage.py spectacular --validate --fail-on-warn --file /dev/null
echo "== pytest"
set +e
"$PY" -m pytest "$@"
code=$?
set -e
if [ $code -eq 5 ]; then echo "no tests collected"; exit 1; fi
exit $code
