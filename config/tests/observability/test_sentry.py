"""Optional Sentry (issue 20): events reach the DSN with secrets redacted; nothing is sent without a DSN."""

import gzip
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config.tests.observability.helpers import PYTHON, ROOT, child_env

BOT_TOKEN = "123456:AAE-bot-token-secret-value"
WHSEC = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4OTA="
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW5hbnQifQ.c2lnbmF0dXJlLXBhcnQ"

SCRIPT = f"""
import django
django.setup()
import sentry_sdk
from django.test import Client
from config.observability.request_id import request_id_scope

def call_provider(api_key):
    detail = "calling with {WHSEC} for bot {BOT_TOKEN}"
    raise RuntimeError("provider refused Authorization: Bearer {JWT} " + detail)

with request_id_scope("req-sentry-1"):
    try:
        call_provider("X-API-Key-value-123")
    except RuntimeError:
        sentry_sdk.capture_exception()
print(Client(HTTP_HOST="localhost").get("/healthz/live").status_code, sentry_sdk.get_client().is_active())
sentry_sdk.flush(5)
"""


@pytest.fixture
def sentry_server():
    """A loopback Sentry: records every envelope POSTed to /api/<project>/envelope/."""
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            bodies.append((self.path, self.headers.get("X-Sentry-Auth", ""), raw.decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], bodies
    server.shutdown()
    server.server_close()


def run(**env):
    return subprocess.run([PYTHON, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=90,
                          env=child_env(DJANGO_SETTINGS_MODULE="config.settings", TELEGRAM_BOT_TOKEN=BOT_TOKEN, **env))


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
def test_an_error_reaches_sentry_with_its_request_id_and_without_secrets(sentry_server):
    port, bodies = sentry_server
    result = run(SENTRY_DSN=f"http://public@127.0.0.1:{port}/1", SENTRY_ENVIRONMENT="test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "True"]
    events = [b for b in bodies if '"type":"event"' in b[2].replace(" ", "")]
    assert len(events) == 1, bodies
    path, auth, body = events[0]
    assert path == "/api/1/envelope/" and "sentry_key=public" in auth
    event = json.loads(body.strip().splitlines()[-1])
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "req-sentry-1" and event["environment"] == "test"
    # the message, the frame variables and everything else: no secret survives
    for secret in (BOT_TOKEN, WHSEC, JWT, "X-API-Key-value-123", "c2VjcmV0LXNpZ25pbmcta2V5"):
        assert secret not in body
    assert "****" in body


def test_nothing_is_sent_without_a_dsn(sentry_server):
    port, bodies = sentry_server
    result = run(SENTRY_DSN="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "False"] and bodies == []
