"""The headline call of the public API: an incoming message into a new chat of a connected channel.

POST /api/v1/channels first (a repeat with the same body is a safe 200), then POST /api/v1/messages whose
chat names the channel: operator replies then reach you with that channelId.

SBERCRM_API_URL=https://<SberCRM host>/api/v1 SBERCRM_TOKEN=<client token> python public_api_message.py
"""

import os
import sys

import requests

API_URL = os.environ.get("SBERCRM_API_URL", "https://crm.example.ru/api/v1")
TOKEN = os.environ["SBERCRM_TOKEN"]  # the tenant's client token, entered in the provider's account
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def check(response: requests.Response) -> dict:
    if response.status_code not in (200, 201):
        error = response.json()["error"]
        sys.exit(f"{response.status_code} {error['code']}: {error['message']} {error.get('fields', '')}")
    return response.json()


channel = {"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки"}  # your channel (bot, number, group)
check(requests.post(f"{API_URL}/channels", json=channel, timeout=10, headers=HEADERS))

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

response = requests.post(f"{API_URL}/messages", json=message, timeout=10, headers=HEADERS)
saved = check(response)
print(response.status_code, "created" if response.status_code == 201 else "already saved", saved["id"],
      saved["chatId"], saved["status"])
