"""A minimal provider endpoint `sendMessage` (WSGI, standard library + standardwebhooks).

Checks the API key from the configuration, the signature, and answers a repeated
Idempotency-Key with the very same response instead of sending the message twice.
Run: SBERCRM_SIGNING_SECRET=whsec_... PROVIDER_API_KEY=... python provider_endpoint.py
"""

import json
import os
import uuid
from wsgiref.simple_server import make_server

from standardwebhooks import Webhook, WebhookVerificationError

SIGNING_SECRET = os.environ.get("SBERCRM_SIGNING_SECRET", "")
API_KEY = os.environ.get("PROVIDER_API_KEY", "")
API_KEY_HEADER = "HTTP_X_API_KEY"  # "headerName": "X-Api-Key" in the configuration

answers: dict[str, dict] = {}  # Idempotency-Key -> response; use your database in production
sent: list[dict] = []  # messages handed over to the messenger


def send_to_messenger(payload: dict) -> str:
    sent.append(payload)
    return f"prov-{uuid.uuid4().hex[:12]}"


def reply(start_response, status: str, body: dict):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get(API_KEY_HEADER) != API_KEY:
        return reply(start_response, "401 Unauthorized", {"error": "bad api key"})
    try:
        payload = Webhook(SIGNING_SECRET).verify(body, headers)
    except WebhookVerificationError:
        return reply(start_response, "401 Unauthorized", {"error": "bad signature"})
    key = headers.get("idempotency-key")
    if not key:  # SberCRM always sends one; anything else is not our call
        return reply(start_response, "400 Bad Request", {"error": "Idempotency-Key header is required"})
    if key not in answers:  # a retry of a call we already handled gets the same answer
        answers[key] = {"messageId": send_to_messenger(payload)}
    return reply(start_response, "200 OK", answers[key])


if __name__ == "__main__":
    make_server("0.0.0.0", 8080, app).serve_forever()  # noqa: S104 - a sample server
