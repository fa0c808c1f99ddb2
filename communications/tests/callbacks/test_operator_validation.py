"""The light validator of the operator's send body gives the serializer's answers: the same validated data for a
valid body, the same errors (field by field) for an invalid one
(communications/api/internal/operator/serializers.py, `message_send_validated`)."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from communications.api.internal.operator.serializers import MessageSendSerializer, message_send_validated
from communications.api.public import limits
from communications.tests.factories import DROP, plain, with_changes

TENANT = "0b7a2a43-5a3e-4a59-9f0e-3c1f0d6a2b11"


def _answer(validate, body):
    try:
        return "valid", plain(validate(body))
    except ValidationError as exc:
        return "invalid", plain(exc.detail)


def _serializer(body):
    serializer = MessageSendSerializer(data=body)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _same_answer(body):
    light = _answer(message_send_validated, body)
    assert light == _answer(_serializer, body)
    return light


def _body(**changes):
    return with_changes({"tenantId": TENANT, "providerCode": "bench", "text": "Привет", "operatorId": "operator-1"},
                        changes)



CASES = [
    {}, {"operatorId": DROP}, {"operatorId": ""}, {"operatorId": "  op  "}, {"operatorId": None},
    {"operatorId": 7}, {"operatorId": "x" * limits.MAX_ID_LENGTH}, {"operatorId": "x" * (limits.MAX_ID_LENGTH + 1)},
    {"text": " как есть "}, {"text": "  "}, {"text": ""}, {"text": DROP}, {"text": None}, {"text": 5},
    {"text": "x" * limits.MAX_TEXT_LENGTH}, {"text": "x" * (limits.MAX_TEXT_LENGTH + 1)},
    {"tenantId": DROP}, {"tenantId": ""}, {"tenantId": "nope"}, {"tenantId": TENANT.upper()},
    {"tenantId": TENANT.replace("-", "")}, {"tenantId": "{" + TENANT + "}"}, {"tenantId": 12}, {"tenantId": None},
    {"providerCode": DROP}, {"providerCode": ""}, {"providerCode": "   "}, {"providerCode": " bench "},
    {"providerCode": "x" * 100}, {"providerCode": "x" * 101}, {"providerCode": ["bench"]},
    {"attachments": []}, {"attachments": None}, {"attachments": [{"type": "location"}]}, {"attachments": {}},
    {"attachments": [], "text": ""},
    {"replyTo": None}, {"replyTo": 5}, {"replyTo": -1}, {"replyTo": 0}, {"replyTo": "5"}, {"replyTo": True},
    {"replyTo": 5.0}, {"replyTo": 2**70},
    {"txt": "y"}, {"id": 1},
]


def _case_id(case: dict) -> str:
    return repr({key: f"<{len(value)} chars>" if isinstance(value, str) and len(value) > 40 else value
                 for key, value in case.items()})


@pytest.mark.parametrize("changes", CASES, ids=[_case_id(case) for case in CASES])
def test_the_light_validator_gives_the_serializers_answer(changes):
    _same_answer(_body(**changes))


def test_a_plain_body_is_valid_with_the_serializers_data():
    assert _same_answer(_body(operatorId=" op ")) == ("valid", {
        "tenant_id": uuid.UUID(TENANT), "provider_code": "bench", "text": "Привет", "operator_id": "op",
        "attachments": [], "reply_to_id": None})


@pytest.mark.parametrize("body", [None, [], "text", 5, [_body()]])
def test_a_body_that_is_not_an_object_gets_the_serializers_error(body):
    assert _same_answer(body)[0] == "invalid"


# no U+0000 and no lone surrogates: the JSON parser refuses them before any view (the validator's precondition)
_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12)
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), _TEXT,
                    st.sampled_from(["", " ", TENANT, "bench", " bench ", "x" * 101]), st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["tenantId", "providerCode", "text", "operatorId", "attachments", "replyTo",
                                        "other"]), _VALUES, max_size=7),
       st.booleans())
def test_any_mix_gets_the_serializers_answer(changes, from_plain):
    _same_answer({**(_body() if from_plain else {}), **changes})
