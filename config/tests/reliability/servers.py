"""Real servers of the reliability tests: a private redis-server, production gunicorn, raw HTTP to them."""

import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from config.testing.processes import ROOT, free_port, subprocess_env, wait_until


class PrivateRedis:
    """A separate redis-server for this test only (the machine's Redis is never touched)."""

    def __init__(self, tmp_path):
        self.port, self.dir, self.process = free_port(), tmp_path, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._ping(), timeout=10, interval=0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def _ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen


def raw_request(port: int, data: bytes, timeout: float = 20) -> tuple[int, dict, bytes]:
    """Sends bytes as they are; returns (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            length = {k.lower(): v for k, v in headers.items()}.get("content-length")
            if length is not None and len(body) >= int(length):
                break
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(lines[0].split(" ")[1]), headers, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        if not int(size, 16):
            break
        out, data = out + data[:int(size, 16)], data[int(size, 16) + 2:]
    return out


def get(port: int, path: str, *headers: str) -> tuple[int, dict, bytes]:
    extra = "".join(f"{h}\r\n" for h in headers)
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n".encode())


@contextmanager
def run_gunicorn(tmp: Path, **env: str):
    """gunicorn as in production (gunicorn.conf.py, DEBUG=0) on a free loopback port, on the test database."""
    port, log = free_port(), tmp / "access.log"
    environment = subprocess_env(**{"DEBUG": "0", "ALLOWED_HOSTS": "localhost,127.0.0.1", "SECURE_SSL_REDIRECT": "0",
                                    "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1",
                                    "GUNICORN_ACCESS_LOG": str(log), **env})
    with open(tmp / "error.log", "w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi:application"],
                                   cwd=ROOT, env=environment, stdout=errors, stderr=errors)
    yield from _serve(Server(port, log, process))


def _serve(server: Server):
    try:
        wait_until(lambda: _answers(server.port), timeout=60, interval=0.2)
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False
