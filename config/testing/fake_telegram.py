"""A fake Telegram Bot API on 127.0.0.1 for pyTelegramBotAPI.

    with FakeTelegram() as tg:
        apihelper.API_URL = tg.api_url          # or settings.TELEGRAM_API_BASE_URL = tg.url
        tg.blocked_chats.add("42")              # sendMessage to 42 -> 403 bot was blocked
        tg.push_update({...})                   # served by getUpdates (long polling)
        tg.fail_next("sendMessage", *FakeTelegram.too_many_requests(3))
        tg.sent_messages()                      # [{"chat_id": "42", "text": ...}, ...]

Methods: getMe, getUpdates (offset + bounded long-poll wait), sendMessage,
editMessageText, editMessageReplyMarkup, answerCallbackQuery; any other method
(setWebhook, deleteWebhook, ...) is recorded and answers `true`.
"""

import itertools
import time

from config.testing.fake_http import FakeHTTPServer


class FakeTelegram(FakeHTTPServer):
    def __init__(self, *, max_poll_wait: float = 1.0):
        super().__init__()
        self.blocked_chats: set[str] = set()
        self.missing_chats: set[str] = set()
        self.updates: list[dict] = []
        self.delivered: list[dict] = []  # sendMessage params the fake accepted (answered 200, maybe too late)
        self.max_poll_wait = max_poll_wait
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        """Value for `telebot.apihelper.API_URL`."""
        return self.url + "/bot{0}/{1}"

    def reset(self):
        with self.lock:
            super().reset()
            self.blocked_chats.clear()
            self.missing_chats.clear()
            self.updates.clear()
            self.delivered.clear()

    @staticmethod
    def too_many_requests(retry_after: int) -> tuple[int, dict]:
        return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                     "parameters": {"retry_after": retry_after}}

    @staticmethod
    def error(code: int, description: str) -> tuple[int, dict]:
        return code, {"ok": False, "error_code": code, "description": description}

    def push_update(self, update: dict) -> dict:
        with self.lock:
            update.setdefault("update_id", next(self._update_ids))
            self.updates.append(update)
            self.changed.notify_all()
        return update

    def sent_messages(self) -> list[dict]:
        return [r.params for r in self.calls("sendMessage")]

    def respond(self, request):
        method, params = self.name_of(request), request.params
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 200, {"ok": True, "result": True}, {}
        return handler(params)

    def _m_getMe(self, params):
        return 200, {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Fake", "username": "fake_bot"}}, {}

    def _m_getUpdates(self, params):
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), self.max_poll_wait)
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # offset confirms older ones
            while not self.updates and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return 200, {"ok": True, "result": list(self.updates)}, {}

    def _message(self, params) -> dict:
        return {"message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"}, "text": params.get("text", "")}

    def _m_sendMessage(self, params):
        chat = str(params.get("chat_id"))
        if chat in self.blocked_chats:
            return (*self.error(403, "Forbidden: bot was blocked by the user"), {})
        if chat in self.missing_chats:
            return (*self.error(400, "Bad Request: chat not found"), {})
        if not params.get("text") or len(params["text"]) > 4096:
            return (*self.error(400, "Bad Request: message text is empty or too long"), {})
        with self.lock:
            self.delivered.append(params)
        return 200, {"ok": True, "result": self._message(params)}, {}

    def _m_editMessageText(self, params):
        return 200, {"ok": True, "result": self._message(params)}, {}
