"""A real HTTP server that plays a messaging provider in tests.

    with FakeProvider() as fake:
        configuration.endpoints = fake.endpoints()   # {"sendMessage": "http://127.0.0.1:PORT/sendMessage", ...}
        fake.fail_next(2, status=503)                # script the next answers
        ...
        fake.wait_for(lambda: len(fake.accepted) == 3)

- Binds 127.0.0.1 on an ephemeral port; one thread per request.
- Records every request (`requests`: method, path, headers, body, json, answer status).
- Deduplicates by `Idempotency-Key` like a careful provider: the first 2xx per key
  is "accepted" (`accepted`, in arrival order); a repeat gets the same answer again
  and is counted in `duplicates`.
- Can be told to fail / stall / answer 4xx, 5xx, 429 + Retry-After, redirect,
  go away (stop listening; connections are refused) and come back on the same port.
- `fail_endpoint("getMessageHistory", after=4, status=400)`: fail one endpoint only,
  after letting some of its requests through (e.g. a crash in the middle of a sync).
- `on(endpoint, Reaction(...))` misbehaves on one endpoint only; `deduplicate = False`
  plays a provider that ignores Idempotency-Key (a repeat gets a new message id).
- Attachments (issue 21): `fetch_attachments = True` plays a provider that downloads each file of a
  sendMessage/bulkMessages before it answers, like a gateway re-uploading it to the messenger: it GETs the
  signed `url` (no auth), records the bytes' SHA-256 in `fetched`, and answers 422 when a download fails or
  does not match `checksum`/`size`. `on_attachments(Reaction(...))` answers only calls that carry attachments.
- Sensible bodies: sendMessage → {"messageId"}, getChannels → {"channels"},
  getMessageHistory → paged {"messages", "nextCursor"}, bulkMessages → {"results"}; any other
  endpoint of the registry (communications/endpoints.py) → its example answer; anything else → {"ok": true}.
"""

import hashlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from communications.endpoints import endpoint_get, endpoint_names

# The registry's endpoints when this module was imported (tests parametrize over them);
# `endpoints()` reads the registry at call time, so an endpoint a test registers is served too.
ENDPOINTS = endpoint_names()


@dataclass
class Reaction:
    status: int = 200
    body: object = None  # None: the endpoint's default body
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the 6 pieces of the body: slow in total, no single read times out
    reset: bool = False  # process the request (a 2xx is stored), then drop the connection without answering


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict
    body: bytes
    json: object
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    @property
    def endpoint(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class FetchedFile:
    """One attachment the fake downloaded: what the call promised and what the link gave."""

    url: str
    status: int  # 0: no answer
    checksum: str  # SHA-256 of the bytes received
    size: int
    expected_checksum: str
    expected_size: int | None

    @property
    def matches(self) -> bool:
        return self.status == 200 and self.checksum == self.expected_checksum and (
            self.expected_size is None or self.size == self.expected_size)


def attachments_of(body) -> list[dict]:
    """The attachment items of a sendMessage body, or of every message of a bulkMessages body."""
    if not isinstance(body, dict):
        return []
    messages = body["messages"] if isinstance(body.get("messages"), list) else [body]
    return [item for message in messages if isinstance(message, dict)
            for item in message.get("attachments") or () if isinstance(item, dict)]


class FakeProvider:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_alive: bool = False):
        """`keep_alive`: answer in HTTP/1.1 and keep connections open, as a real provider does (the bench);
        the tests' default HTTP/1.0 closes each one, so `go_away()` leaves no connection behind."""
        self.host, self.port, self.keep_alive = host, port, keep_alive
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.accepted: dict[str, RecordedRequest] = {}  # idempotency key → first accepted request (ordered)
        self.duplicates = 0
        self._answers: dict[str, tuple[int, bytes]] = {}
        self._script: deque[Reaction] = deque()
        self._always: Reaction | None = None
        self._endpoint_rules: list[list] = []  # [endpoint, successes to let through, failures left, Reaction]
        self._per_endpoint: dict[str, Reaction] = {}
        # False: a careless provider that treats a repeated Idempotency-Key as a new request.
        self.deduplicate = True
        self.channels = [
            {"id": "ch-tg", "code": "telegram", "name": "Telegram"},
            {"id": "ch-wa", "code": "whatsapp", "name": "WhatsApp"},
        ]
        self.history: list[dict] = []
        self.history_page_size = 100
        self._history_pages: tuple[list, dict] = ([], {})  # (the history they were built from, (start, size) → bytes)
        self.fetch_attachments = False  # True: download every attachment url before answering
        self.fetched: list[FetchedFile] = []
        self._attachments_reaction: Reaction | None = None
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> "FakeProvider":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if fake.keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = True  # headers and body are two writes (see fake_http.py)

            def do_POST(self):  # noqa: N802
                fake._handle(self)

            do_PUT = do_PATCH = do_DELETE = do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def go_away(self) -> None:
        """Stop listening: new connections are refused until `come_back()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def come_back(self) -> None:
        self.start()

    stop = go_away

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoints(self, names=None, *, host: str | None = None) -> dict[str, str]:
        """URLs of `names` here (default: every endpoint of the registry)."""
        base = f"http://{host}:{self.port}" if host else self.url
        return {name: f"{base}/{name}" for name in (endpoint_names() if names is None else names)}

    # --- scripting ---------------------------------------------------------------
    def script(self, *reactions: Reaction) -> None:
        """Answer the next requests with these reactions, in order."""
        with self.lock:
            self._script.extend(reactions)

    def fail_next(self, count: int, status: int = 500, *, retry_after: str | None = None, body=None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.script(*[Reaction(status=status, headers=headers, body=body or {"error": "scripted"})] * count)

    def stall_next(self, seconds: float, count: int = 1) -> None:
        self.script(*[Reaction(delay=seconds)] * count)

    def redirect_next(self, location: str, status: int = 302) -> None:
        self.script(Reaction(status=status, headers={"Location": location}, body={}))

    def fail_endpoint(self, endpoint: str, count: int = 1, status: int = 500, *, after: int = 0, body=None) -> None:
        """Let `after` requests to `endpoint` through, then answer the next `count` ones with `status`."""
        with self.lock:
            self._endpoint_rules.append([endpoint, after, count,
                                         Reaction(status=status, body=body or {"error": "scripted"})])

    def always(self, reaction: Reaction | None) -> None:
        """Answer every request (after the script) with `reaction`; None restores normal answers."""
        with self.lock:
            self._always = reaction

    def on(self, endpoint: str, reaction: Reaction | None) -> None:
        """Answer every request to `endpoint` with `reaction` (None restores normal answers)."""
        with self.lock:
            if reaction is None:
                self._per_endpoint.pop(endpoint, None)
            else:
                self._per_endpoint[endpoint] = reaction

    def on_attachments(self, reaction: Reaction | None) -> None:
        """Answer every call that carries attachments with `reaction` (None restores normal answers)."""
        with self.lock:
            self._attachments_reaction = reaction

    # --- inspection -------------------------------------------------------------
    def accepted_list(self, endpoint: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.accepted.values() if endpoint is None or r.endpoint == endpoint]

    def wait_for(self, predicate, timeout: float = 30.0, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s; {len(self.requests)} requests seen")

    # --- handling ---------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        record = RecordedRequest(method=handler.command, path=handler.path,
                                 headers={k.lower(): v for k, v in handler.headers.items()}, body=raw, json=parsed)
        with self.lock:
            self.requests.append(record)
            reaction = self._endpoint_reaction(record.endpoint)
            if reaction is None and self._attachments_reaction and attachments_of(parsed):
                reaction = self._attachments_reaction
            if reaction is None:
                reaction = (self._script.popleft() if self._script
                            else self._per_endpoint.get(record.endpoint) or self._always or Reaction())
        if reaction.delay:
            time.sleep(reaction.delay)
        status, body = reaction.status, reaction.body
        if 200 <= status < 300 and body is None and self.fetch_attachments:
            problem = self._fetch_attachments(parsed)
            if problem:
                status, body = 422, {"error": "attachment_unavailable", "message": problem}
        key = record.idempotency_key
        if 200 <= status < 300:
            with self.lock:
                if key and key in self._answers and self.deduplicate:
                    self.duplicates += 1
                    status, payload = self._answers[key]
                else:
                    payload = json.dumps(body).encode() if body is not None else self._default_payload(record)
                    if key:
                        self._answers[key] = (status, payload)
                        self.accepted[key] = record
        else:
            payload = json.dumps(body if body is not None else {"error": "scripted"}).encode()
        record.status = status
        if reaction.reset:
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in reaction.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if reaction.trickle:
                step = max(1, -(-len(payload) // 6))
                for start in range(0, len(payload), step):
                    time.sleep(reaction.trickle)
                    handler.wfile.write(payload[start:start + step])
                    handler.wfile.flush()
            else:
                handler.wfile.write(payload)
        except OSError:
            pass  # the client went away (timeout or killed worker)

    def _fetch_attachments(self, body) -> str:
        """Download each attachment url; '' when every file arrived with its checksum and size, else why not."""
        for item in attachments_of(body):
            if not item.get("url"):
                continue  # a location or a contact
            digest, size, status = hashlib.sha256(), 0, 0
            try:
                with requests.get(item["url"], timeout=5, stream=True, allow_redirects=False) as answer:
                    status = answer.status_code
                    for chunk in answer.iter_content(64 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
            except requests.RequestException:
                pass
            fetched = FetchedFile(url=item["url"], status=status, checksum=digest.hexdigest(), size=size,
                                  expected_checksum=item.get("checksum") or "", expected_size=item.get("size"))
            with self.lock:
                self.fetched.append(fetched)
            if not fetched.matches:
                return f"{item['url']}: HTTP {status or 'no answer'}, sha256 {fetched.checksum}, {size} bytes"
        return ""

    def _endpoint_reaction(self, endpoint: str) -> Reaction | None:
        """A `fail_endpoint` rule's answer for this request, if one applies (caller holds the lock)."""
        for rule in self._endpoint_rules:
            if rule[0] != endpoint or rule[2] <= 0:
                continue
            if rule[1] > 0:
                rule[1] -= 1
                return None
            rule[2] -= 1
            return rule[3]
        return None

    def history_prepare(self, page_size: int) -> None:
        """Encode the pages of `history` (pages of `page_size` from the start) now, before a measurement: answering
        one of them is then a lookup, as from a provider on another machine (the bench, S7: this process shares the
        cores with the stack). The bytes are the ones the page would be encoded to when asked; reassigning
        `history` drops them."""
        pages = {}
        for start in range(0, max(len(self.history), 1), page_size):
            pages[(start, page_size)] = json.dumps(self._history_page(start, page_size)).encode()
        self._history_pages = (self.history, pages)

    def _history_page(self, start: int, size: int) -> dict:
        page = self.history[start:start + size]
        more = start + size < len(self.history)
        return {"messages": page, "nextCursor": str(start + size) if more else None}

    def _default_payload(self, record: RecordedRequest) -> bytes:
        if record.endpoint == "getMessageHistory" and self._history_pages[0] is self.history:
            data = record.json if isinstance(record.json, dict) else {}
            prepared = self._history_pages[1].get((int(data.get("cursor") or 0),
                                                   int(data.get("limit") or self.history_page_size)))
            if prepared is not None:
                return prepared
        return json.dumps(self._default_body(record)).encode()

    def _default_body(self, record: RecordedRequest) -> object:
        data = record.json if isinstance(record.json, dict) else {}
        key = record.idempotency_key or str(len(self.requests))
        if not self.deduplicate:
            key += f"#{len(self.requests)}"  # every request is new: a repeat gets a fresh id
        if record.endpoint == "sendMessage":
            return {"messageId": "prov-" + hashlib.sha256(key.encode()).hexdigest()[:16]}
        if record.endpoint == "bulkMessages":
            return {"results": [{"index": i, "messageId": f"prov-{hashlib.sha256(f'{key}:{i}'.encode()).hexdigest()[:16]}"}
                                for i, _ in enumerate(data.get("messages") or [])]}
        if record.endpoint == "getChannels":
            return {"channels": self.channels}
        if record.endpoint == "getMessageHistory":
            return self._history_page(int(data.get("cursor") or 0), int(data.get("limit") or self.history_page_size))
        endpoint = endpoint_get(record.endpoint)
        return endpoint.example_response if endpoint else {"ok": True}
