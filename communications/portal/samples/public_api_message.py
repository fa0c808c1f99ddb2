"""One full call of the public API: an incoming message into a new chat (POST /api/v1/messages).

SBERCRM_API_URL=https://<SberCRM host>/api/v1 SBERCRM_TOKEN=<client token> python public_api_message.py
"""

import os
import sys

import requests

API_URL = os.environ.get("SBERCRM_API_URL", "https://crm.example.ru/api/v1")
TOKEN = os.environ["SBERCRM_TOKEN"]  # the tenant's client token, entered in the provider's account

message = {
    "id": "msg-5001",  # your message id: sending it again is safe (200, nothing is duplicated)
    "chat": {  # the chat is created with its participants if SberCRM does not know it yet
        "id": "chat-1001",
        "title": "Иван Петров",
        "type": "private",
        "participants": [{"id": "user-42", "name": "Иван Петров", "phone": "+79990000000"}],
    },
    "direction": "incoming",
    "text": "Здравствуйте! Где мой заказ?",
    "senderId": "user-42",
    "sentAt": "2026-11-20T10:15:00Z",
}

response = requests.post(f"{API_URL}/messages", json=message, timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}"})
if response.status_code not in (200, 201):
    error = response.json()["error"]
    sys.exit(f"{response.status_code} {error['code']}: {error['message']} {error.get('fields', '')}")
saved = response.json()
print(response.status_code, "created" if response.status_code == 201 else "already saved", saved["id"],
      saved["chatId"], saved["status"])
