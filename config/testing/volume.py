"""Seed a database with volume (issue 19): chats, participants, messages and delivery rows in a few
INSERT … SELECT generate_series statements, fast enough for a test (20k rows) and for `make bench` S8
(1,000,000 messages). PostgreSQL only. Rows carry the `prefix` in their external ids, so a seed never
collides with real data and can be told apart.
"""

import uuid
from dataclasses import dataclass


@dataclass
class Volume:
    tenants: list[uuid.UUID]
    chats: int
    messages_per_chat: int
    deliveries: int
    final_share: float = 0.5  # of the delivery rows: final (delivered, one attempt each), the rest pending
    final_age_days: int = 60  # final rows are spread over this many days back (the retention job's material)
    prefix: str = "vol"
    # The newest chat (and its messages) this many days back: history older than the live chats, so a list of the
    # newest chats shows the same chats before and after the seed (bench S8). 0: the newest chat is now.
    history_days: int = 0


def volume_seed(connection, *, provider_id: int, volume: Volume) -> dict:
    """Insert the rows; returns how many of each. `connection` is a Django connection (PostgreSQL)."""
    tenants = [str(t) for t in volume.tenants]
    params = {"tenants": tenants, "n": len(tenants), "provider": provider_id, "chats": volume.chats,
              "per": volume.messages_per_chat, "prefix": volume.prefix, "deliveries": volume.deliveries,
              "final": int(volume.deliveries * volume.final_share), "age": volume.final_age_days,
              "history": volume.history_days}
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO communications_chat (tenant_id, provider_id, external_id, title, type, metadata,
                                             request_fingerprint, created_at, updated_at)
            SELECT (%(tenants)s::uuid[])[1 + i %% %(n)s], %(provider)s, %(prefix)s || '-chat-' || i, 'Чат ' || i,
                   'private', '{}', '', now() - %(history)s * interval '1 day' - i * interval '1 minute',
                   now() - %(history)s * interval '1 day' - i * interval '1 minute'
            FROM generate_series(0, %(chats)s - 1) AS i""", params)
        cursor.execute("""
            CREATE TEMP TABLE volume_chats ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, tenant_id, external_id, created_at
            FROM communications_chat
            WHERE provider_id = %(provider)s AND external_id LIKE %(prefix)s || '-chat-%%'""", params)
        cursor.execute("""
            INSERT INTO communications_participant (chat_id, external_id, name, username, phone, metadata)
            SELECT c.id, 'user-' || g, 'Участник ' || g, '', '', '{}'
            FROM volume_chats c CROSS JOIN generate_series(0, 1) AS g""")
        # The last message of a chat is unread (incoming); the rest are read.
        cursor.execute("""
            INSERT INTO communications_message (tenant_id, provider_id, chat_id, external_id, direction, text,
                                                sender_external_id, seen_flag, status, status_error,
                                                request_fingerprint, reply_to_external_id, sent_at, created_at,
                                                updated_at)
            SELECT c.tenant_id, %(provider)s, c.id, c.external_id || '-m' || g,
                   CASE WHEN g %% 3 = 0 AND g < %(per)s THEN 'outgoing' ELSE 'incoming' END,
                   'Сообщение из истории №' || g, 'user-0', g < %(per)s, 'sent', '', '', '',
                   c.created_at + g * interval '1 second', c.created_at + g * interval '1 second',
                   c.created_at + g * interval '1 second'
            FROM volume_chats c CROSS JOIN generate_series(1, %(per)s) AS g""", params)
        # Final rows (delivered, one attempt each) spread over `age` days back; the rest wait for a retry tomorrow.
        cursor.execute("""
            INSERT INTO communications_delivery (kind, tenant_id, provider_id, endpoint, url, payload, signing_secret,
                idempotency_key, ordering_key, on_delivered, request_id, status, synchronous, attempts,
                next_attempt_at, last_error, response_excerpt, provider_message_id, created_at, updated_at,
                delivered_at)
            SELECT 'provider', c.tenant_id, %(provider)s, 'sendMessage', 'http://127.0.0.1:9/sendMessage', '{}', '',
                   gen_random_uuid(), c.external_id, '', '',
                   CASE WHEN s.i < %(final)s THEN 'delivered' ELSE 'pending' END, false,
                   CASE WHEN s.i < %(final)s THEN 1 ELSE 0 END,
                   CASE WHEN s.i < %(final)s THEN s.t ELSE now() + interval '1 day' END, '', '', '',
                   s.t, s.t, CASE WHEN s.i < %(final)s THEN s.t END
            FROM (SELECT i, now() - (i %% %(age)s) * interval '1 day' - interval '1 hour' AS t
                  FROM generate_series(0, %(deliveries)s - 1) AS i) AS s
            JOIN volume_chats c ON c.n = s.i %% %(chats)s""", params)
        cursor.execute("""
            INSERT INTO communications_deliveryattempt (delivery_id, number, started_at, outcome, status_code,
                                                        latency_ms, error)
            SELECT d.id, 1, d.created_at, 'success', 200, 5, ''
            FROM communications_delivery d JOIN volume_chats c
              ON d.tenant_id = c.tenant_id AND d.ordering_key = c.external_id
            WHERE d.kind = 'provider' AND d.provider_id = %(provider)s AND d.status = 'delivered'""", params)
        cursor.execute("ANALYZE communications_chat, communications_participant, communications_message, "
                       "communications_delivery, communications_deliveryattempt")
    return {"chats": volume.chats, "messages": volume.chats * volume.messages_per_chat,
            "deliveries": volume.deliveries, "final": params["final"]}
