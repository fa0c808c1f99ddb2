"""Real concurrency on PostgreSQL: an operator action and a token deactivation never interleave."""

import threading

import pytest
from django.db import connection, transaction

from communications.models import Delivery, IntegrationToken
from communications.services import operator
from communications.services.tokens import integration_token_deactivate
from communications.tests.callbacks.conftest import chat_make, provider_setup, tenant_install


@pytest.mark.postgres
def test_deactivation_waits_for_an_operator_action_in_flight_so_disconnect_is_the_last_call(
        transactional_db, fast, fake_provider, django_capture_on_commit_callbacks):
    # given: an operator send holds its transaction open after the integration check
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    chat_make(tenant_id, provider)
    token = IntegrationToken.objects.get(tenant_id=tenant_id)
    checked, release, deactivated = threading.Event(), threading.Event(), threading.Event()

    def operator_send():
        try:
            with transaction.atomic():
                operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id="chat-1",
                                               text="Последнее слово")
                checked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def deactivate():
        try:
            with transaction.atomic():
                integration_token_deactivate(token=token)
            deactivated.set()
        finally:
            connection.close()

    sender = threading.Thread(target=operator_send)
    sender.start()
    assert checked.wait(timeout=30)
    # when: the tenant deactivates the token meanwhile
    deactivator = threading.Thread(target=deactivate)
    deactivator.start()
    # then: the deactivation waits on the token row until the send commits ...
    assert not deactivated.wait(timeout=1.5)
    release.set()
    sender.join(timeout=30)
    deactivator.join(timeout=30)
    assert deactivated.is_set()
    # ... so the send is queued before `disconnect`, and it is cancelled by it unless a worker was quicker
    calls = list(Delivery.objects.filter(tenant_id=tenant_id, endpoint__in=["sendMessage", "disconnect"])
                 .order_by("pk").values_list("endpoint", "status"))
    assert [endpoint for endpoint, _ in calls] == ["sendMessage", "disconnect"]
    assert calls[0][1] in (Delivery.Status.CANCELLED, Delivery.Status.DELIVERED)
