"""Query budgets of the outbound hot path (bench S5): an operator message and its `sendMessage` delivery."""

import pytest

from communications.models import Delivery, Message
from communications.services import deliveries, operator
from communications.tests.factories import chat_make, provider_setup, tenant_install

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(fast, fake_provider):
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider)
    Delivery.objects.all().delete()  # the activation's own calls
    return tenant_id, provider


def queued_send(tenant_id, provider, django_capture_on_commit_callbacks) -> Delivery:
    with django_capture_on_commit_callbacks(execute=False):
        operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Привет")
    return Delivery.objects.get(endpoint="sendMessage")


def test_one_send_attempt_with_its_provider_id_store_takes_a_fixed_number_of_queries(
        chat, fake_provider, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    tenant_id, provider = chat
    delivery = queued_send(tenant_id, provider, django_capture_on_commit_callbacks)
    # claim (row + binding + configuration in one query), "after disconnect?" check, chain check, lease,
    # signing secrets; record: the lock order's shares (provider, tenant configuration, token), lock,
    # attempt log, the handler's conflict check + id update + queued calls, finish, next in chain.
    # Counted with the SAVEPOINT/RELEASE pairs the test transaction adds (3 pairs).
    with django_assert_max_num_queries(21):
        assert deliveries.delivery_send(delivery_id=delivery.pk) == "delivered"
    delivery.refresh_from_db()
    assert Message.objects.get().external_id == delivery.provider_message_id != ""


def test_operator_message_is_written_in_a_fixed_number_of_queries(chat, django_capture_on_commit_callbacks,
                                                                  django_assert_max_num_queries):
    tenant_id, provider = chat
    # configuration, token (share-locked), chat, message, chain lock, delivery, webhooks (+ 2 savepoint pairs)
    with django_assert_max_num_queries(11), django_capture_on_commit_callbacks(execute=False) as dispatches:
        operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1", text="Привет")
    assert len(dispatches) == 1 and Delivery.objects.get().endpoint == "sendMessage"
