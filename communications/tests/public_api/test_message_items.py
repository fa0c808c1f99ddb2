"""The light validator of history items gives the serializer's answers: the same validated data for a valid
item, the same errors (field by field) for an invalid one (communications/api/public/message_items.py)."""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from communications.api.public import limits
from communications.api.public.message_items import validate_messages
from communications.api.public.serializers import PublicMessageCreateSerializer, validate_each
from communications.tests.factories import DROP, message_payload, plain, with_changes


def _serializer(items):
    return validate_each(PublicMessageCreateSerializer, items)


def _same_answer(items):
    light_valid, light_errors = validate_messages(items)
    valid, errors = _serializer(items)
    assert plain(light_valid) == plain(valid)
    assert plain(light_errors) == plain(errors)
    # key order too (the fingerprint sorts keys, but nothing should depend on luck)
    assert [list(data) for _, data in light_valid] == [list(data) for _, data in valid]
    return light_valid, light_errors


def _item(**changes):
    item = message_payload("m-1", "c-1", participants=2, sentAt="2026-01-01T10:00:00Z", senderId="u0",
                           direction="outgoing", status="delivered", replyTo="m-0")
    item["chat"].update({"channelId": "ch-1", "title": "Чат", "type": "group", "metadata": {"k": [1, "два"]}})
    return with_changes(item, changes)


LONG_ID = "x" * (limits.MAX_ID_LENGTH + 1)

CASES = [
    {},
    {"sentAt": None}, {"sentAt": DROP}, {"sentAt": "2026-01-01T10:00:00"}, {"sentAt": "2026-01-01"},
    {"sentAt": "вчера"}, {"sentAt": 1700000000}, {"sentAt": "2026-03-29T02:30:00+03:00"},
    {"sentAt": "2026-01-01T10:00:00.123456+05:30"}, {"sentAt": "1900-01-01T00:00:00Z"}, {"sentAt": "0001-01-01T00:00:00+01:00"},
    {"sentAt": "9999-12-31T23:59:59-01:00"}, {"sentAt": "2026-01-01 10:00Z"}, {"sentAt": "20260101T100000Z"},
    {"sentAt": "2026-01-01T10:00:00+24:00"}, {"sentAt": "2026-02-30T10:00:00Z"},
    {"id": "  m-1  "}, {"id": "   "}, {"id": ""}, {"id": 5}, {"id": None}, {"id": LONG_ID}, {"id": DROP},
    {"text": "  пробелы  "}, {"text": ""}, {"text": "   "}, {"text": None}, {"text": DROP},
    {"text": "x" * (limits.MAX_TEXT_LENGTH + 1)}, {"text": 12},
    {"direction": "sideways"}, {"direction": ""}, {"direction": None}, {"direction": DROP}, {"direction": 1},
    {"status": "failed"}, {"status": "read"}, {"status": DROP},
    {"senderId": ""}, {"senderId": " "}, {"senderId": None}, {"senderId": LONG_ID},
    {"replyTo": ""}, {"replyTo": "  "}, {"replyTo": None}, {"replyTo": DROP}, {"replyTo": ["m-0"]},
    {"attachments": []}, {"attachments": None},
    {"attachments": [{"type": "image", "url": "https://files.example/a.png"}]},
    {"attachments": [{"type": "image"}]}, {"attachments": [{"type": "location", "location": {"latitude": 1,
                                                                                           "longitude": 2}}]},
    {"unknown": 1}, {"chat__unknown": 1}, {"chat__participants__0__unknown": 1},
    {"chat": None}, {"chat": DROP}, {"chat": "c-1"}, {"chat": {}},
    {"chat__id": " c-1 "}, {"chat__id": ""}, {"chat__id": LONG_ID},
    {"chat__channelId": None}, {"chat__channelId": DROP}, {"chat__channelId": ""}, {"chat__channelId": " "},
    {"chat__title": None}, {"chat__title": "  t  "}, {"chat__title": "t" * 256}, {"chat__type": "x" * 33},
    {"chat__metadata": None}, {"chat__metadata": []}, {"chat__metadata": {}}, {"chat__metadata": DROP},
    {"chat__metadata": {"big": "x" * limits.MAX_METADATA_BYTES}},
    {"chat__participants": None}, {"chat__participants": []}, {"chat__participants": DROP},
    {"chat__participants": "u0"}, {"chat__participants": [{"id": "a"}, {"id": "a"}]},
    {"chat__participants": [{"id": "a"}, {"id": " a "}]},
    {"chat__participants": [{"id": f"u{i}"} for i in range(limits.MAX_PARTICIPANTS + 1)]},
    {"chat__participants": [{"id": f"u{i}"} for i in range(limits.MAX_PARTICIPANTS)]},
    {"chat__participants__0__phone": "1" * 33}, {"chat__participants__0__name": None},
    {"chat__participants__0__metadata": {"a": 1}}, {"chat__participants__0": "u0"},
]


@pytest.mark.parametrize("changes", CASES, ids=[",".join(f"{k}={v!r}"[:40] for k, v in c.items()) or "plain"
                                                  for c in CASES])
def test_each_case_gets_the_serializers_answer(changes):
    _same_answer([_item(**changes)])


def test_a_page_keeps_the_order_and_the_indexes_of_valid_and_invalid_items():
    items = [_item(**changes) for changes in CASES]
    valid, errors = _same_answer(items)
    assert valid and errors and sorted([index for index, _ in valid] + list(errors)) == list(range(len(items)))


def test_items_are_not_changed():
    items = [_item(**changes) for changes in CASES]
    before = copy.deepcopy(items)
    validate_messages(items)
    assert items == before


def test_plain_items_are_judged_without_the_serializer():
    """The point of it: a plain history item never reaches DRF; one with attachments does."""
    from communications.api.public import message_items

    item = _item()
    assert plain(message_items._message(item, message_items._zone())) == plain(_serializer([item])[0][0][1])
    with pytest.raises(message_items._Unsure):
        message_items._message(_item(attachments=[{"type": "image", "url": "https://files.example/a.png"}]),
                               message_items._zone())


_values = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.just(""), st.just(" "),
                    st.text(alphabet=" аz\t-", max_size=5), st.just([]), st.just({}), st.just("2026-01-01T10:00:00Z"),
                    st.sampled_from(["incoming", "outgoing", "sent", "read", "failed"]))
_paths = st.sampled_from(["id", "text", "direction", "status", "senderId", "sentAt", "replyTo", "attachments",
                          "chat__id", "chat__channelId", "chat__title", "chat__type", "chat__metadata",
                          "chat__participants", "chat__participants__0__id", "chat__participants__1__id",
                          "chat__participants__0__name", "chat__participants__0__metadata", "extra"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_paths, st.one_of(_values, st.just(DROP)), max_size=4))
def test_any_mix_of_values_gets_the_serializers_answer(changes):
    try:
        item = _item(**changes)
    except (TypeError, KeyError, IndexError, AttributeError):  # a change under a value an earlier one replaced
        return
    _same_answer([item])
