"""Seeded volume for the performance tests (issue 19)."""

import uuid

import pytest
from django.db import connection, transaction

from communications.models import Message
from communications.services.providers import provider_register
from config.testing.volume import Volume, volume_seed


@pytest.fixture
def volume():
    """One provider's 2,000 chats over 20 tenants, 20,000 messages, 20,000 deliveries (half final) and their attempts,
    then ANALYZE (config/testing/volume.py)."""
    provider, _ = provider_register(code=f"vol-{uuid.uuid4().hex[:6]}", label="Объём")
    with transaction.atomic():  # the seed's temporary table lives until the commit (a transactional test has none)
        counts = volume_seed(connection, provider_id=provider.pk, volume=Volume(
            tenants=[uuid.uuid4() for _ in range(20)], chats=2000, messages_per_chat=10, deliveries=20_000))
    assert Message.objects.filter(provider=provider).count() == counts["messages"] == 20_000
    return provider
