"""A gunicorn sync worker whose own error answers are the JSON error envelope.

gunicorn answers requests it cannot parse (431 too many or too large headers, 414 a too long
request line, 400 a broken request) itself, as HTML, before Django sees them. The worker hands
gunicorn a socket wrapper that turns that answer into the envelope, like every other error.
"""

import json

from gunicorn.workers.sync import SyncWorker

MESSAGES = {
    400: ("bad_request", "Некорректный HTTP-запрос."),
    403: ("forbidden", "Запрос запрещён."),
    414: ("uri_too_long", "Слишком длинная строка запроса."),
    417: ("expectation_failed", "Заголовок Expect не поддерживается."),
    431: ("headers_too_large", "Слишком большие или слишком многочисленные заголовки запроса."),
    500: ("server_error", "Внутренняя ошибка сервера."),
    501: ("not_implemented", "Кодирование передачи не поддерживается."),
}


def json_error(raw: bytes) -> bytes:
    """gunicorn's HTML error response -> the same status with the JSON envelope."""
    status_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError):
        return raw
    code, message = MESSAGES.get(status, MESSAGES[400] if status < 500 else MESSAGES[500])
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
    head = (f"{status_line}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class _JsonErrorSocket:
    def __init__(self, sock):
        self._sock = sock

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data):
        return self._sock.sendall(json_error(bytes(data)))


class JsonErrorSyncWorker(SyncWorker):
    def handle_error(self, req, client, addr, exc):
        return super().handle_error(req, _JsonErrorSocket(client), addr, exc)
