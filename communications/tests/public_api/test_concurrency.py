"""Real concurrency on PostgreSQL: 50 threads, each with its own connection and transaction."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from communications.models import Chat, Message, Participant
from communications.tests.factories import integration_create, message_payload

THREADS = 50


def _race(value: str, payloads: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(payloads))

    def send(payload):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
        try:
            barrier.wait(timeout=30)
            return client.post("/api/v1/messages", payload, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(send, payloads))


@pytest.mark.postgres
def test_50_concurrent_first_messages_create_one_chat_and_its_participants_once(transactional_db):
    # given
    integration = integration_create()
    payloads = [message_payload(f"m-{i}", "new-chat", participants=5) for i in range(THREADS)]
    # when
    statuses = _race(integration.value, payloads)
    # then
    assert statuses == [201] * THREADS
    assert Chat.objects.filter(external_id="new-chat").count() == 1
    chat = Chat.objects.get(external_id="new-chat")
    assert sorted(Participant.objects.filter(chat=chat).values_list("external_id", flat=True)) == [
        f"user-{i}" for i in range(5)]
    assert Message.objects.filter(chat=chat).count() == THREADS


@pytest.mark.postgres
def test_50_concurrent_copies_of_one_message_store_it_once(transactional_db):
    # given
    integration = integration_create()
    # when
    statuses = _race(integration.value, [message_payload("same", "new-chat", participants=3)] * THREADS)
    # then
    assert sorted(statuses) == [200] * (THREADS - 1) + [201]
    assert Message.objects.count() == 1 and Chat.objects.count() == 1 and Participant.objects.count() == 3
