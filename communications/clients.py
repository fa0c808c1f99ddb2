"""The one hardened HTTP client for calls to providers and webhooks.

Every outbound call of the communications module goes through `post_json`:
- connect and read timeouts, and the whole answer within their sum; no redirects (a 3xx is
  returned, never followed);
- SSRF guard: the host is resolved once, every address is vetted, and the
  connection goes to the vetted address (no DNS-rebinding window); the Host
  header and TLS SNI/certificate check still use the original host name;
- POSTs keep the connection alive per receiver (vetted address + host name) and thread;
- JSON body, User-Agent, API key header, Idempotency-Key;
- Standard Webhooks signature headers (webhook-id, webhook-timestamp,
  webhook-signature = space-separated `v1,<base64 HMAC-SHA256>`).
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter

from config.http import adapter_send
from config.observability.request_id import request_id_get, request_id_new
from config.text import unstorable_replaced

USER_AGENT = "SberCRM-Communications/1.0"
MAX_BODY_BYTES = 1024 * 1024


class OutboundCallError(Exception):
    """Base class; `retryable` tells the outbox whether to try again."""

    retryable = True


class UnsafeTargetError(OutboundCallError):
    """The URL is not allowed (scheme, private address...). Retrying cannot help."""

    retryable = False


class SigningSecretMissing(OutboundCallError):
    """The provider has no current signing secret: an unsigned call is never made. Retrying cannot help."""

    retryable = False


class TransportError(OutboundCallError):
    """Connection refused/reset, DNS failure or timeout. Worth retrying."""


@dataclass
class CallResult:
    """A provider's answer. `json`, `headers` and `excerpt` are safe to store: U+0000 and lone
    surrogates (which PostgreSQL refuses) are replaced by U+FFFD; `json_as_sent` is the parsed body
    untouched, for callers that judge items themselves (communications/services/inbound.py)."""

    status_code: int
    headers: dict[str, str]
    body: bytes
    latency_ms: int
    json: object = field(default=None)
    json_as_sent: object = field(default=None)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def excerpt(self) -> str:
        return unstorable_replaced(self.body[:2000].decode("utf-8", errors="replace"))


# --- signatures ------------------------------------------------------------------

def webhook_secret_generate() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. The one generator of the project
    (provider signing secrets, tenants' webhooks, notification status callbacks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>` per Standard Webhooks."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- SSRF guard ------------------------------------------------------------------

# IPv6 forms that carry an IPv4 address: the verdict is the embedded address's.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: IPv4 in the last 32 bits
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
# Refused whatever they carry: tunnels and translators into someone's own network.
_NEVER = tuple(ipaddress.ip_network(net) for net in (
    "64:ff9b:1::/48",  # RFC 8215 local-use NAT64: the operator's network, prefix layout varies
    "2001::/32",  # Teredo: a tunnel through a relay, server and client IPv4 inside
    "::/96",  # IPv4-compatible (deprecated, RFC 4291), also :: and ::1
))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:  # 2002::/16, RFC 3056
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER):
            return bool(ip.is_loopback and getattr(settings, "PROVIDER_ALLOW_LOOPBACK", False))
        ip = _embedded_ipv4(ip) or ip
    if ip.is_loopback:
        return bool(getattr(settings, "PROVIDER_ALLOW_LOOPBACK", False))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private)


# Answers of getaddrinfo per (host, port), kept for a short time: a provider's host is looked up once per
# PROVIDER_DNS_CACHE_SECONDS, not on every call (each lookup is a round trip, and a dropped UDP query costs
# glibc's whole retry timeout), and a name that did not resolve is not asked again for
# PROVIDER_DNS_NEGATIVE_CACHE_SECONDS. Only addresses are kept: every use vets them again.
_dns_lock = threading.Lock()
_dns_answers: dict[tuple[str, int], tuple[float, list | str]] = {}
_dns_stats = {"hits": 0, "misses": 0}
_DNS_MAX_ENTRIES = 4096


def _resolved(host: str, port: int) -> list:
    key, now = (host.lower(), port), time.time()
    with _dns_lock:
        expires, answer = _dns_answers.get(key, (0.0, None))
        fresh = answer is not None and expires > now
        _dns_stats["hits" if fresh else "misses"] += 1
    if not fresh:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
            ttl = settings.PROVIDER_DNS_CACHE_SECONDS
        except (socket.gaierror, UnicodeError) as exc:
            answer, ttl = str(exc), settings.PROVIDER_DNS_NEGATIVE_CACHE_SECONDS
        with _dns_lock:
            if len(_dns_answers) >= _DNS_MAX_ENTRIES:
                _dns_answers.clear()
            if ttl > 0:
                _dns_answers[key] = (now + ttl, answer)
    if isinstance(answer, str):
        raise TransportError(f"не удалось разрешить {host}: {answer}")
    return answer


def dns_cache_info() -> dict:
    """Hits, misses and the number of names held (for tests and operations)."""
    with _dns_lock:
        return {**_dns_stats, "size": len(_dns_answers)}


def dns_cache_clear() -> None:
    with _dns_lock:
        _dns_answers.clear()


def resolve_safe(url: str) -> tuple[str, str]:
    """Vet `url`; return (url rewritten to the vetted IP, original host header).

    Resolves the host once (this also normalises decimal/octal IPv4 forms such as
    2130706433) and refuses the URL if ANY address is not allowed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTargetError(f"схема {parts.scheme!r} не разрешена")
    host = parts.hostname
    if not host:
        raise UnsafeTargetError("в URL нет хоста")
    if parts.username or parts.password:
        raise UnsafeTargetError("учётные данные в URL не разрешены")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolved(host, port)
    refused = [str(ip) for ip in addresses if not _address_allowed(ip)]
    if refused or not addresses:
        raise UnsafeTargetError(f"адрес {host} → {', '.join(refused)} запрещён (SSRF-защита)")
    ip = addresses[0]
    netloc_ip = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc_ip, parts.path or "/", parts.query, "")), host_header


class _PinnedHostAdapter(HTTPAdapter):
    """Connects to the vetted IP while TLS still checks the original host name."""

    def __init__(self, server_hostname: str, **kwargs):
        self._server_hostname = server_hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._server_hostname
        kwargs["assert_hostname"] = self._server_hostname
        super().init_poolmanager(*args, **kwargs)


# --- the call --------------------------------------------------------------------

def _chunks(response: requests.Response, *, deadline: float):
    """The body's chunks, which must all arrive by `deadline`.

    The read timeout bounds each read only: a server dripping bytes would hold the worker
    indefinitely. Whatever arrives after the deadline is a read timeout.
    """
    while True:
        try:
            chunk = response.raw.read1(64 * 1024, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(str(exc)) from exc
        if not chunk:
            return
        yield chunk
        if time.monotonic() > deadline:
            raise requests.exceptions.ReadTimeout("ответ не получен целиком за отведённое время")


def _read_body(response: requests.Response, *, deadline: float, max_bytes: int) -> bytes:
    """The body (cut after `max_bytes`), which must be complete by `deadline`."""
    chunks, received = [], 0
    for chunk in _chunks(response, deadline=deadline):
        chunks.append(chunk)
        received += len(chunk)
        if received > max_bytes:
            break
    return b"".join(chunks)


class BodyTooLarge(OutboundCallError):
    """The answer is bigger than the caller's cap (stopped while streaming). Retrying cannot help."""

    retryable = False


def _pinned_session(url: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: the vetted IP is the peer
    session.mount("https://", _PinnedHostAdapter(urlsplit(url).hostname))
    return session


class _KeepAlive(threading.local):
    """Sessions kept per thread for POSTs, one per (vetted address, host name): the next call to the same
    receiver reuses the open connection (urllib3 opens a new one if the receiver closed it)."""

    LIMIT = 64  # receivers; the least recently used is closed beyond it

    def __init__(self):
        self.sessions: dict[tuple[str, str], requests.Session] = {}

    def get(self, target: str, url: str) -> requests.Session:
        key = (urlsplit(target).netloc, urlsplit(url).hostname or "")
        session = self.sessions.pop(key, None) or _pinned_session(url)
        self.sessions[key] = session  # most recently used last
        while len(self.sessions) > self.LIMIT:
            self.sessions.pop(next(iter(self.sessions))).close()
        return session


_keep_alive = _KeepAlive()


@contextmanager
def _transport_errors():
    """Timeouts and network errors of a call as TransportError (retryable), with a short reason."""
    try:
        yield
    except requests.Timeout as exc:
        raise TransportError(f"таймаут: {exc.__class__.__name__}") from exc
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError(f"сетевая ошибка: {exc.__class__.__name__}: {exc}"[:500]) from exc


def get_to_file(*, url: str, sink, max_bytes: int, timeout: tuple[float, float]) -> requests.Response:
    """GET `url` through the SSRF guard into the file object `sink`, at most `max_bytes` (BodyTooLarge as
    soon as more arrives). No redirects. Returns the response (headers, status) for ANY status; the body is
    written only for 2xx. Raises UnsafeTargetError / TransportError / BodyTooLarge."""
    target, host_header = resolve_safe(url)
    session = _pinned_session(url)
    started = time.monotonic()
    try:
        with _transport_errors(), session.get(target, headers={"Host": host_header, "User-Agent": USER_AGENT},
                                              timeout=timeout, allow_redirects=False, stream=True) as response:
            success = 200 <= response.status_code < 300
            length = response.headers.get("Content-Length", "")
            if success and length.isdigit() and int(length) > max_bytes:
                raise BodyTooLarge(f"файл больше {max_bytes} байт")
            received = 0
            for chunk in _chunks(response, deadline=started + sum(timeout)) if success else ():
                received += len(chunk)
                if received > max_bytes:
                    raise BodyTooLarge(f"файл больше {max_bytes} байт")
                sink.write(chunk)
    finally:
        session.close()
    return response


def post_json(
    *,
    url: str,
    payload: object,
    idempotency_key: str,
    signing_secrets: list[str] = (),
    auth_header: str = "",
    auth_key: str = "",
    extra_headers: dict[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> CallResult:
    """POST `payload` as JSON. Returns the response for ANY status (3xx included,
    never followed); raises UnsafeTargetError / TransportError otherwise. An answer over `max_bytes` is
    cut there and not parsed (`json` None, `body` of exactly `max_bytes`)."""
    target, host_header = resolve_safe(url)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Host": host_header,
        "Idempotency-Key": idempotency_key,
        "webhook-id": idempotency_key,
        "webhook-timestamp": str(timestamp),
        "X-Request-Id": request_id_get() or request_id_new(),  # observability hook (issue 20)
        **(extra_headers or {}),
    }
    if signing_secrets:
        headers["webhook-signature"] = " ".join(
            sign(secret=s, msg_id=idempotency_key, timestamp=timestamp, body=body) for s in signing_secrets
        )
    if auth_header and auth_key:
        headers[auth_header] = auth_key

    timeout = (settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT)
    started = time.monotonic()
    with _transport_errors():  # no cookie jar: one tenant's cookies never ride along with another's call
        response = adapter_send(_keep_alive.get(target, url), "POST", target, headers=headers, data=body,
                                timeout=timeout, stream=True)
    with _transport_errors(), response:
        content = _read_body(response, deadline=started + sum(timeout), max_bytes=max_bytes)
    latency_ms = int((time.monotonic() - started) * 1000)
    parsed = None
    if len(content) <= max_bytes:
        try:
            parsed = json.loads(content) if content else None
        except ValueError:
            parsed = None
    return CallResult(status_code=response.status_code, headers=unstorable_replaced(dict(response.headers)),
                      body=content[:max_bytes], latency_ms=latency_ms, json=unstorable_replaced(parsed),
                      json_as_sent=parsed)
