"""Every public API operation, in the order an integration uses them.

SBERCRM_API_URL=https://<SberCRM host>/api/v1 SBERCRM_TOKEN=<client token> python public_api_all.py
"""

import os
import sys

import requests

API_URL = os.environ.get("SBERCRM_API_URL", "https://crm.example.ru/api/v1")
session = requests.Session()
session.headers["Authorization"] = f"Bearer {os.environ['SBERCRM_TOKEN']}"


def call(method: str, path: str, expected: set[int], **kwargs):
    response = session.request(method, f"{API_URL}{path}", timeout=10, **kwargs)
    if response.status_code not in expected:
        sys.exit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


# region channels_connect
def connect_channel() -> dict:
    return call("POST", "/channels", {200, 201}, json={"id": "tg-bot-1", "code": "telegram", "name": "Бот поддержки"})
# endregion


# region chats_create
def create_chat() -> dict:
    return call("POST", "/chats", {200, 201}, json={
        "id": "chat-1001", "channelId": "tg-bot-1", "title": "Иван Петров", "type": "private",
        "participants": [{"id": "user-42", "name": "Иван Петров"}, {"id": "bot-1", "name": "Поддержка"}],
    })
# endregion


# region chats_update
def update_chat() -> dict:
    return call("PATCH", "/chats/chat-1001", {200}, json={
        "title": "Иван Петров (VIP)", "participants": [{"id": "manager-7", "name": "Менеджер Анна"}],
    })
# endregion


# region messages_create
def create_message() -> dict:
    return call("POST", "/messages", {200, 201}, json={
        "id": "msg-5001", "chat": {"id": "chat-1001", "channelId": "tg-bot-1"},
        "text": "Здравствуйте! Где мой заказ?", "senderId": "user-42", "sentAt": "2026-11-20T10:15:00Z",
    })
# endregion


# region messages_update_text
def update_message_text() -> dict:
    return call("PATCH", "/messages/msg-5001", {200}, json={"text": "Здравствуйте! Где мой заказ №123?"})
# endregion


# region messages_set_status
def set_message_status() -> dict:
    return call("POST", "/messages/msg-5001/status", {200}, json={"status": "delivered"})
# endregion


# region chats_seen
def mark_chat_seen() -> dict:
    return call("POST", "/chats/chat-1001/seen", {200})
# endregion


# region webhooks_set
def set_webhook() -> dict:
    webhook = call("POST", "/webhooks", {200, 201}, json={
        "url": "https://provider.example/sbercrm/events", "events": ["message.created", "chat.seen"],
    })
    # "secret" (whsec_...) is returned only when the webhook is created or rotateSecret=true: store it.
    return webhook
# endregion


# region webhooks_get
def get_webhook() -> dict:
    return call("GET", "/webhooks", {200})
# endregion


# region webhooks_delete
def delete_webhook() -> None:
    call("DELETE", "/webhooks", {204})
# endregion


# region bulk_messages_create
def bulk_messages() -> dict:
    chat = {"id": "chat-2002", "participants": [{"id": "user-43", "name": "Мария"}]}
    result = call("POST", "/bulk/messages", {200}, json={"messages": [
        {"id": "msg-6001", "chat": chat, "text": "Первое сообщение из истории", "senderId": "user-43"},
        {"id": "msg-6002", "chat": chat, "text": "Второе", "senderId": "user-43"},
        {"id": "msg-6003", "chat": chat, "text": ""},  # invalid: reported in results, the rest are saved
    ]})
    return result  # {"results": [{"index", "id", "result": created|duplicate|error}], "created", ...}
# endregion


# region channels_disconnect
def disconnect_channel() -> None:
    call("DELETE", "/channels/tg-bot-1", {204})
# endregion


if __name__ == "__main__":
    print("channel", connect_channel()["displayName"])
    print("chat", create_chat()["id"])
    print("chat participants", len(update_chat()["participants"]))
    print("message", create_message()["id"])
    print("edited", update_message_text()["editedAt"] is not None)
    print("status", set_message_status()["status"])
    print("seen", mark_chat_seen()["updated"])
    print("webhook secret shown", "secret" in set_webhook())
    print("webhook", get_webhook()["url"])
    delete_webhook()
    print("bulk", bulk_messages()["created"])
    disconnect_channel()
    print("done")
