import pytest


@pytest.fixture
def media(settings, tmp_path):
    """Files go to a fresh directory (the default local storage) for the test."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


class FileServer:
    """A loopback HTTP server answering GET `path` with the scripted (status, body, headers)."""

    def __init__(self):
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.routes: dict[str, tuple[int, bytes, dict]] = {}
        self.stalls: dict[str, float] = {}  # path -> seconds to wait before answering, once
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.hits.append(self.path)
                if self.path in server.stalls:
                    time.sleep(server.stalls.pop(self.path))
                status, body, headers = server.routes.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers and headers.get("X-No-Length") is None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()
