"""The stand sends the same request shapes as production (the documented examples of provider_contract,
which communications/tests/portal/test_provider_contract.py proves equal to what the real services send)."""

import json

import pytest

from communications.endpoints import example_requests
from communications.tests.factories import make_configuration, shape
from config.testing.fake_provider import ENDPOINTS, Reaction

pytestmark = pytest.mark.django_db


def test_stand_sends_every_endpoint_the_documented_body(stand, conformant, run_now):
    # given: a configuration with every endpoint
    make_configuration(conformant)
    # when: a run calls them all
    run = run_now()
    received = {request.endpoint: request.json for request in conformant.requests}
    # then: each body the provider received has the documented fields, nested the same way
    assert set(received) == set(ENDPOINTS)
    documented = example_requests()
    for endpoint, body in received.items():
        assert shape(body) == shape(documented[endpoint]), endpoint
    # and the values later calls reuse come from earlier answers, like in production
    channel = conformant.channels[0]["id"]
    answered = json.loads(run.checks.get(endpoint="sendMessage", is_repeat=False).response_excerpt)["messageId"]
    assert received["markChatRead"]["channelId"] == received["sendMessage"]["channelId"] == channel
    for endpoint in ("updateMessageContent", "updateMessageStatus"):
        assert (received[endpoint]["messageId"], received[endpoint]["clientMessageId"]) == (answered, None)
    assert received["disconnect"]["reason"] == "token_deactivated"


def test_without_a_message_id_later_calls_name_the_message_by_client_id(stand, broken, run_now):
    # given: sendMessage answers without messageId
    make_configuration(broken)
    broken.on("sendMessage", Reaction(body={"ok": True}))
    # when
    run = run_now()
    # then: like production, edits carry messageId null and our clientMessageId
    sent = next(r.json for r in broken.requests if r.endpoint == "sendMessage")
    edit = next(r.json for r in broken.requests if r.endpoint == "updateMessageContent")
    assert edit["messageId"] is None and edit["clientMessageId"] == sent["clientMessageId"]
    assert run.checks.get(endpoint="sendMessage", is_repeat=False).verdict == "contract_violation"
