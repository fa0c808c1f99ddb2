"""What each benchmark scenario sends: `SCENARIOS[name](params, seed, n) -> (method, path, body)`.

`params` come from bench/run.py (ids it seeded); `seed` (per load generator thread, unique
per run) and `n` (request number in the thread) make every id unique. Bodies are realistic:
a message carries its chat with two participants, like a provider would send it.
"""

import time
import zlib


def _pick(seed: str, n: int, count: int) -> int:
    return zlib.crc32(f"{seed}:{n}".encode()) % count


def _participants(count: int) -> list[dict]:
    return [{"id": f"user-{i}", "name": f"Участник {i}", "username": f"user{i}"} for i in range(count)]


def _message(message_id: str, chat_id: str, participants: int = 2) -> dict:
    return {"id": message_id, "chat": {"id": chat_id, "title": f"Чат {chat_id}", "type": "private",
                                       "participants": _participants(participants)},
            "direction": "incoming", "senderId": "user-0",
            "text": "Здравствуйте! Подскажите, пожалуйста, статус заказа №12345?",
            "sentAt": "2026-11-20T10:15:00Z"}


def ping(params, seed, n):
    return "GET", "/bench/ping", None


def healthz(params, seed, n):
    return "GET", "/healthz", None


def s1_ingest(params, seed, n):
    """One message into one of the seeded chats."""
    chat = f"chat-{_pick(seed, n, params['chats'])}"
    return "POST", "/api/v1/messages", _message(f"s1-{seed}-{n}", chat)


def s2_ingest_new_chat(params, seed, n):
    """One message that creates its chat with 10 participants."""
    return "POST", "/api/v1/messages", _message(f"s2-{seed}-{n}", f"s2-chat-{seed}-{n}", participants=10)


def s3_bulk(params, seed, n):
    """100 messages into seeded chats."""
    size = params["bulk_size"]
    messages = [_message(f"s3-{seed}-{n}-{i}", f"chat-{_pick(seed, n * size + i, params['chats'])}")
                for i in range(size)]
    return "POST", "/api/v1/bulk/messages", {"messages": messages}


def s4_floor(params, seed, n):
    return "POST", "/bench/floor", {}


def s5_operator(params, seed, n):
    """An operator message; its text carries the send time (CLOCK_MONOTONIC, system-wide on Linux)
    so the fake provider's arrival time gives the end-to-end latency."""
    chat = f"chat-{_pick(seed, n, params['chats'])}"
    return "POST", f"/internal/v1/operator/chats/{chat}/messages", {
        "tenantId": params["tenant_id"], "providerCode": params["provider_code"],
        "text": f"bench {time.monotonic():.6f}", "operatorId": "operator-1"}


def chat_list(params, seed, n):
    """The CRM operator's chat list of the seeded tenant (newest change first, unread counts), pages 1–2 (the
    seeded tenant has 100 chats before S8)."""
    return "GET", (f"/internal/v1/operator/chats?tenantId={params['tenant_id']}&providerCode={params['provider_code']}"
                   f"&page={1 + _pick(seed, n, 2)}"), None


def s6_notification(params, seed, n):
    recipient = params["recipients"][_pick(seed, n, len(params["recipients"]))]
    return "POST", "/notifications/send", {
        "user_id": recipient, "service": "telegram", "subject": "Сделка", "type": "notification",
        "message": f"Сделка №{n} перешла на этап «Согласование»."}


SCENARIOS = {
    "ping": ping, "healthz": healthz, "s1": s1_ingest, "s2": s2_ingest_new_chat, "s3": s3_bulk,
    "s4": s4_floor, "s5": s5_operator, "s6": s6_notification,
    "chats": chat_list,
}
