"""Telegram through a proxy from the environment (issue 19): the client reads the proxy variables once per process
and host instead of on every call, and still honours them, NO_PROXY included. A real forward proxy on 127.0.0.1."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from notifications.clients import environment_proxies
from notifications.models import Notification

pytestmark = pytest.mark.django_db


class ForwardProxy:
    """A plain HTTP forward proxy: takes `POST http://host:port/path`, forwards it, records the target."""

    def __init__(self):
        self.forwarded: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                target = urlsplit(self.path)
                proxy.forwarded.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                try:
                    upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                                     body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy_env(monkeypatch):
    """A forward proxy in the environment's variables; the process-wide reading of them is cleared around the test."""
    with ForwardProxy() as proxy:
        for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        environment_proxies.cache_clear()
        yield proxy
    environment_proxies.cache_clear()


def _body(recipient) -> dict:
    return {"user_id": recipient.pk, "service": "telegram", "subject": "Сделка", "type": "notification",
            "message": "Сделка перешла на этап «Согласование»."}


def test_telegram_send_goes_through_the_proxy_of_the_environment(fakes, make_recipient, send, proxy_env):
    recipient = make_recipient("manager", telegram=True)

    # when: two sends (the variables are read at the first)
    responses = [send(_body(recipient)), send(_body(recipient))]

    # then: both went through the proxy to the fake Telegram
    assert [r.status_code for r in responses] == [200, 200]
    assert len(proxy_env.forwarded) == 2
    assert all(path.startswith(fakes["telegram"].url) and path.endswith("/sendMessage")
               for path in proxy_env.forwarded)
    assert len(fakes["telegram"].sent_messages()) == 2
    assert fakes["telegram"].sent_messages()[0]["text"].endswith("«Согласование».")
    assert Notification.objects.filter(status="sent").count() == 2


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "127.0.0.0/8"])
def test_no_proxy_of_the_environment_still_bypasses_the_proxy(fakes, make_recipient, send, proxy_env, monkeypatch,
                                                               no_proxy):
    monkeypatch.setenv("no_proxy", no_proxy)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    recipient = make_recipient("manager", telegram=True)

    response = send(_body(recipient))

    assert response.status_code == 200
    assert proxy_env.forwarded == []
    assert len(fakes["telegram"].sent_messages()) == 1


def test_a_proxy_that_refuses_is_a_failure_not_a_direct_call(fakes, make_recipient, send, monkeypatch, settings):
    # given: the environment names a proxy that is not there (a closed port); no retry fits the wait
    settings.NOTIFICATIONS_SYNC_DEADLINE = 0.5
    with ForwardProxy() as gone:
        url = gone.url
    monkeypatch.setenv("http_proxy", url)
    monkeypatch.setenv("HTTP_PROXY", url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    environment_proxies.cache_clear()
    try:
        recipient = make_recipient("manager", telegram=True)
        response = send(_body(recipient))
    finally:
        environment_proxies.cache_clear()

    # then: nothing reached Telegram behind the proxy's back; the send is not reported as sent
    assert response.status_code == 500
    assert fakes["telegram"].sent_messages() == []


@pytest.mark.parametrize("params", [
    {"chat_id": "42", "text": "Сделка «Ромашка» & 50% = ✓\nновая строка", "parse_mode": "HTML"},
    {"chat_id": 7, "text": "a+b c", "disable_notification": True, "message_thread_id": None,
     "reply_markup": '{"inline_keyboard": [[{"text": "Да", "callback_data": "y"}]]}', "ids": [1, 2]},
])
def test_the_telegram_form_body_is_the_one_requests_makes(params):
    """`form_encode` replaces requests' encoding of a dict body (issue 19): the same bytes on the wire."""
    import requests

    from notifications.clients import FORM, form_encode

    prepared = requests.Request("POST", "http://127.0.0.1/bot1/sendMessage", data=params).prepare()
    assert form_encode(params) == prepared.body.encode() and prepared.headers["Content-Type"] == FORM
