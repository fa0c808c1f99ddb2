"""A fake OneSignal REST API on 127.0.0.1.

`POST /notifications` records the payload. Subscription ids in `invalid_ids` are
reported in `errors.invalid_player_ids`; when none is valid the `id` is empty
(nothing sent), like the real API. A repeated `idempotency_key` returns the first
id and is not delivered again. `delivered` lists the unique notifications.
"""

import uuid

from config.testing.fake_http import FakeHTTPServer


class FakeOneSignal(FakeHTTPServer):
    def __init__(self):
        super().__init__()
        self.invalid_ids: set[str] = set()
        self.delivered: list[dict] = []
        self._by_key: dict[str, str] = {}

    def reset(self):
        with self.lock:
            super().reset()
            self.invalid_ids.clear()
            self.delivered.clear()
            self._by_key.clear()

    def respond(self, request):
        if request.method != "POST" or self.name_of(request) != "notifications":
            return 404, {"errors": ["Not found"]}, {}
        if not request.headers.get("Authorization", "").startswith("Key "):
            return 401, {"errors": ["Access denied. Please include an 'Authorization: Key' header."]}, {}
        payload = request.json or {}
        key = payload.get("idempotency_key")
        with self.lock:
            if key and key in self._by_key:
                return 200, {"id": self._by_key[key]}, {}
            targets = payload.get("include_subscription_ids") or []
            invalid = [t for t in targets if t in self.invalid_ids]
            body = {"id": ""}
            if invalid:
                body["errors"] = {"invalid_player_ids": invalid}
            if len(invalid) < len(targets):
                body["id"] = str(uuid.uuid4())
                self.delivered.append(payload)
                if key:
                    self._by_key[key] = body["id"]
            return 200, body, {}
