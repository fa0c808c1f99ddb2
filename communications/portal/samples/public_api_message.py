"""The headline call of the public API: an incoming message into a new chat of a connected channel.

POST /api/v1/channels first (a repeat with the same body is a safe 200), then POST /api/v1/messages whose
chat names the channel: operator replies then reach you with that channelId.

SBERCRM_API_URL=https://<SberCRM host>/api/v1 SBERCRM_TOKEN=<client token> python public_api_message.py
"""

import os
import sys

import requests

API_URL = os.environ.get("SBERCRM_API_URL", "https://crm.example.ru/api/v1")
# The tenant's client token (entered in the provider's account); one session keeps the connection for all calls.
session = requests.Session()
session.headers["Authorization"] = f"Bearer {os.environ['SBERCRM_TOKEN']}"


def post(path: str, body: dict) -> tuple[int, dict]:
    """POST a JSON body: 201 created, 200 the same request again; anything else stops with the API's error."""
    response = session.post(f"{API_URL}{path}", json=body, timeout=10)
    answer = response.json()
    if response.status_code not in (200, 201):
        error = answer["error"]
        sys.exit(f"{response.status_code} {error['code']}: {error['message']} {error.get('fields', '')}")
    return response.status_code, answer


post("/channels", {"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки"})  # your channel (bot, number, group)

message = {
    "id": "msg-5001",  # your message id: the same request again is safe (200); another body under it is 409
    "chat": {  # the chat is created with its participants if SberCRM does not know it yet
        "id": "chat-1001",
        "channelId": "tg-bot-1",  # the chat's channel: operator replies are sent with it
        "title": "Иван Петров",
        "type": "private",
        "participants": [{"id": "user-42", "name": "Иван Петров", "phone": "+79990000000"}],
    },
    "direction": "incoming",
    "text": "Здравствуйте! Где мой заказ?",
    "senderId": "user-42",
    "sentAt": "2026-11-20T10:15:00Z",
}

status, saved = post("/messages", message)
print(status, "created" if status == 201 else "already saved", saved["id"], saved["chatId"], saved["status"])
