"""A fake VK API (+ Bots Long Poll server) on 127.0.0.1 for vk_api.

    with FakeVK() as vk:
        settings.VK_API_BASE_URL = vk.url       # vk_api session rewrites https://api.vk.ru here
        vk.blocked_peers.add("7")               # messages.send -> error 901
        vk.fail_next("messages.send", *FakeVK.error(9, "Flood control"))
        vk.push_event({"type": "message_new", "object": {...}})   # served by the long poll
        vk.delivered                            # unique (peer_id, random_id) deliveries

`groups.getLongPollServer` returns a loopback `server`; `GET /longpoll?act=a_check`
waits (bounded) for events. Other methods answer `{"response": 1}`.
"""

import itertools
import time

from config.testing.fake_http import FakeHTTPServer


class FakeVK(FakeHTTPServer):
    def __init__(self, *, max_poll_wait: float = 1.0):
        super().__init__()
        self.blocked_peers: set[str] = set()
        self.events: list[tuple[int, dict]] = []
        self.delivered: dict[tuple[str, str], int] = {}
        self.max_poll_wait = max_poll_wait
        self.ts = 1
        self._ids = itertools.count(100)

    def reset(self):
        with self.lock:
            super().reset()
            self.blocked_peers.clear()
            self.events.clear()
            self.delivered.clear()

    @staticmethod
    def error(code: int, message: str) -> tuple[int, dict]:
        return 200, {"error": {"error_code": code, "error_msg": message, "request_params": []}}

    def push_event(self, event: dict) -> dict:
        with self.lock:
            self.ts += 1
            event.setdefault("event_id", f"evt{self.ts}")
            self.events.append((self.ts, event))
            self.changed.notify_all()
        return event

    def sent_messages(self) -> list[dict]:
        return [r.params for r in self.calls("messages.send")]

    def respond(self, request):
        name = self.name_of(request)
        if name == "longpoll":
            return self._long_poll(request.params)
        params = request.params
        if name == "messages.send":
            peer = str(params.get("peer_id") or params.get("user_id"))
            if peer in self.blocked_peers:
                return (*self.error(901, "Can't send messages for users without permission"), {})
            if len(params.get("message", "")) > 4096:
                return (*self.error(914, "Message is too long"), {})
            key = (peer, str(params.get("random_id")))
            with self.lock:
                if key not in self.delivered:  # VK drops a resend with the same random_id
                    self.delivered[key] = next(self._ids)
                return 200, {"response": self.delivered[key]}, {}
        if name == "groups.getLongPollServer":
            return 200, {"response": {"key": "fake-key", "server": f"{self.url}/longpoll", "ts": str(self.ts)}}, {}
        return 200, {"response": 1}, {}

    def _long_poll(self, params):
        since = int(params.get("ts") or 0)
        deadline = time.monotonic() + min(float(params.get("wait") or 0), self.max_poll_wait)
        with self.lock:
            while not [e for ts, e in self.events if ts > since] and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            fresh = [e for ts, e in self.events if ts > since]
            return 200, {"ts": str(self.ts), "updates": fresh}, {}
