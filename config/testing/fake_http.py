"""A small real HTTP server on 127.0.0.1 (ephemeral port) that records every request.

Subclasses implement `respond(request) -> (status, body, headers)`. Tests read
`server.requests` (what the client library really sent) and script failures with
`server.fail_next(...)`. Used by the fake Telegram, VK and OneSignal servers.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    query: dict
    form: dict
    json: object
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (wall clock)

    @property
    def params(self) -> dict:
        """Query string, form and JSON object merged (pyTelegramBotAPI sends params in the query)."""
        merged = {**self.query, **self.form}
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


@dataclass
class Scripted:
    match: str  # a method name / path suffix, or "*" for any request
    status: int
    body: object
    headers: dict = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0  # seconds to wait before answering (a read timeout on the client side)


def _flat(qs: dict) -> dict:
    return {key: values[0] if len(values) == 1 else values for key, values in qs.items()}


class FakeHTTPServer:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._scripted: list[Scripted] = []
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the body waited for the client's delayed
            # ACK of the headers, 40 ms per call on a kept-alive connection (bench S6 measured the fake).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake._dispatch(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, str(value))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self):
        with self.lock:
            self.requests.clear()
            self._scripted.clear()

    # --- scripting and inspection --------------------------------------------------------
    def fail_next(self, match: str, status: int, body: object, *, headers: dict | None = None, times: int = 1,
                  delay: float = 0.0):
        """Answer the next `times` requests matching `match` with this status/body (after `delay` s)."""
        with self.lock:
            self._scripted.append(Scripted(match, status, body, dict(headers or {}), times, delay))

    def stall_next(self, match: str, seconds: float, *, times: int = 1):
        """Process the next `times` matching requests normally, but answer only after `seconds`."""
        with self.lock:
            self._scripted.append(Scripted(match, 0, None, {}, times, seconds))

    def calls(self, match: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if self.name_of(r) == match]

    def name_of(self, request: Recorded) -> str:
        return request.path.rstrip("/").rsplit("/", 1)[-1]

    def respond(self, request: Recorded) -> tuple[int, object, dict]:
        raise NotImplementedError

    # --- internals ------------------------------------------------------------------------
    def _dispatch(self, method, raw_path, headers, body):
        parts = urlsplit(raw_path)
        content_type = headers.get("Content-Type", "")
        form, parsed_json = {}, None
        if "application/x-www-form-urlencoded" in content_type:
            form = _flat(parse_qs(body.decode(), keep_blank_values=True))
        elif "json" in content_type and body:
            try:
                parsed_json = json.loads(body)
            except ValueError:
                parsed_json = None
        request = Recorded(method, parts.path, headers, _flat(parse_qs(parts.query, keep_blank_values=True)),
                           form, parsed_json, body)
        with self.lock:
            self.requests.append(request)
            self.changed.notify_all()
            scripted = self._take_scripted(request)
        if scripted and scripted.delay:
            time.sleep(scripted.delay)
        if scripted and scripted.status:
            return scripted.status, scripted.body, dict(scripted.headers)
        return self.respond(request)

    def _take_scripted(self, request):
        for item in self._scripted:
            if item.match in ("*", self.name_of(request)):
                item.times -= 1
                if item.times <= 0:
                    self._scripted.remove(item)
                return item
        return None


class Receiver(FakeHTTPServer):
    """A webhook receiver: answers 200 `{"ok": true}` to everything (script failures with fail_next)."""

    def respond(self, request):
        return 200, {"ok": True}, {}
