"""The production edge: nginx (deploy/nginx/) in front of gunicorn (gunicorn.conf.py), both real.

gunicorn runs with one sync worker, so a single client holding it would take the site down;
nginx must absorb slow clients. The nginx tests are skipped with a notice when the Debian
package is not installed (`.ci/run` installs it).
"""

import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from config.testing.processes import ROOT, free_port, wait_until

from .servers import Server, _serve, get, raw_request, run_gunicorn

# The servers use the test database, which exists only for db tests, and which another process reaches only on
# PostgreSQL (SQLite's test database lives in this process's memory).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SECRET = "s3cr3t-query-token-value"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def json_envelope(status_headers_body) -> dict:
    _, headers, body = status_headers_body
    assert headers["content-type"].startswith("application/json"), headers
    return json.loads(body)["error"]


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory):
    with run_gunicorn(tmp_path_factory.mktemp("gunicorn"), TRUSTED_PROXIES="127.0.0.1",
                      INTERNAL_API_ALLOWED_NETWORKS="10.0.0.0/8") as server:
        yield server


@pytest.fixture(scope="module")
def nginx(gunicorn, tmp_path_factory):
    if not NGINX:
        pytest.skip("NOTICE: nginx is not installed (apt-get install nginx); the edge proxy tests did not run")
    tmp = tmp_path_factory.mktemp("nginx")
    tmp.chmod(0o755)
    port, log = free_port(), tmp / "access.log"
    site = (ROOT / "deploy/nginx/default.conf.template").read_text()
    for name, value in (("SBERCRM_UPSTREAM", f"127.0.0.1:{gunicorn.port}"), ("SBERCRM_LISTEN", f"127.0.0.1:{port}"),
                        ("SBERCRM_ACCESS_LOG", str(log))):
        site = site.replace("${" + name + "}", value)
    (tmp / "site.conf").write_text(site)
    temp_paths = "".join(f"{kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                          "scgi"))
    (tmp / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 512; }}
http {{
{temp_paths}
include {tmp}/site.conf;
}}
""")
    process = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                *(["-g", "user root;"] if os.geteuid() == 0 else [])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield from _serve(Server(port, log, process))


# --- gunicorn ------------------------------------------------------------------------------------

def test_gunicorn_access_log_has_the_path_without_the_query_string(gunicorn):
    # when
    assert get(gunicorn.port, f"/healthz?token={SECRET}")[0] == 200
    assert get(gunicorn.port, f"/api/v1/webhooks?access_token={SECRET}", f"Referer: https://x.example/?key={SECRET}")[0] == 401
    # then: both requests are logged, by path, and the secret is nowhere
    wait_until(lambda: "/api/v1/webhooks" in gunicorn.log.read_text(), timeout=10, interval=0.1)
    log = gunicorn.log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert '"GET /api/v1/webhooks HTTP/1.1" 401' in log
    assert SECRET not in log


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
     431, "headers_too_large"),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nCookie: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "uri_too_long"),
    (b"HELLO\r\n\r\n", 400, "bad_request"),
], ids=["too-many-headers", "too-large-header", "too-long-request-line", "garbage"])
def test_gunicorn_own_error_answers_are_the_json_envelope(gunicorn, request_bytes, status, code):
    answer = raw_request(gunicorn.port, request_bytes)
    assert answer[0] == status
    assert json_envelope(answer)["code"] == code


# --- nginx in front --------------------------------------------------------------------------------

def test_fifty_slow_header_connections_leave_healthz_responsive(nginx):
    # given: 50 clients sending their headers one byte at a time
    stop = threading.Event()
    slow = [socket.create_connection(("127.0.0.1", nginx.port)) for _ in range(50)]

    def drip():
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        while not stop.wait(0.5):
            for sock in slow:
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        # when: 30 ordinary health checks arrive meanwhile (gunicorn has a single sync worker)
        answers = [get(nginx.port, "/healthz") for _ in range(30)]
    finally:
        stop.set()
        dripper.join(timeout=10)
        for sock in slow:
            sock.close()
    # then: every one is answered
    assert [status for status, _, _ in answers] == [200] * 30
    assert all(json.loads(body)["status"] == "ok" for _, _, body in answers)


def test_oversized_headers_through_nginx_get_the_json_envelope(nginx):
    # nginx's own limit (a header over 8k)
    answer = get(nginx.port, "/healthz", "Cookie: " + "a" * 20000)
    assert answer[0] == 431
    assert json_envelope(answer)["code"] == "headers_too_large"
    # headers nginx accepts but gunicorn does not (more than 100): gunicorn's answer, still JSON
    answer = get(nginx.port, "/healthz", *(f"X-H{i}: 1" for i in range(120)))
    assert answer[0] == 431
    assert json_envelope(answer)["code"] == "headers_too_large"


def test_too_long_uri_and_too_large_body_through_nginx_get_the_json_envelope(nginx):
    answer = get(nginx.port, "/" + "a" * 40000)
    assert (answer[0], json_envelope(answer)["code"]) == (414, "uri_too_long")
    body = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    answer = raw_request(nginx.port, b"POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    assert (answer[0], json_envelope(answer)["code"]) == (413, "payload_too_large")


def test_the_app_own_errors_pass_through_nginx_unchanged(nginx):
    answer = get(nginx.port, "/api/v1/webhooks")
    assert answer[0] == 401
    assert json_envelope(answer)["code"] != "bad_request"


def test_nginx_replaces_a_forged_forwarded_for(nginx, gunicorn):
    # gunicorn trusts 127.0.0.1 as its proxy and fences /internal/ to 10.0.0.0/8
    forged = "X-Forwarded-For: 10.9.9.9"
    # straight to gunicorn from the proxy's address the header would be believed (the fence lets it in, auth answers)
    assert get(gunicorn.port, "/internal/v1/providers", forged)[0] == 401
    # through nginx it is replaced by the real peer address: the fence answers
    answer = get(nginx.port, "/internal/v1/providers", forged)
    assert answer[0] == 403
    assert json_envelope(answer)["code"] == "network_not_allowed"


def test_nginx_access_log_has_the_path_without_the_query_string(nginx):
    assert get(nginx.port, f"/healthz?token={SECRET}")[0] == 200
    wait_until(lambda: "/healthz" in nginx.log.read_text(), timeout=10, interval=0.1)
    log = nginx.log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert SECRET not in log
