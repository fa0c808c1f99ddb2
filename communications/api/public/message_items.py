"""A light validator of message items (`POST /api/v1/messages` bodies) for history pages and single messages
(issue 19, benches S7 and S1).

`PublicMessageCreateSerializer` is the rule. Running it costs ~0.2 ms per item even with one instance per page
(`validate_each`): DRF walks ~20 fields, each with its validators and error handling. Most history items are plain:
known keys, strings, no attachments. `validate_messages` checks such an item by hand, reading every limit
(required, default, blank, null, length, choices) from the serializer's declared fields, and produces the
validated data the serializer would. An item it is not sure about — any problem, or anything it does not handle
(attachments) — goes to the serializer, built once per page and only if needed, so errors are the serializer's
own, field by field. `test_message_items.py` holds the two to the same answers.

Precondition: the items passed `config.text.unstorable_text` (no U+0000, no lone surrogates), as
`inbound.messages_import` does first.
"""

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.fields import ISO_8601, empty
from rest_framework.settings import api_settings

from communications.api.public.serializers import (
    PublicChatCreateSerializer,
    PublicMessageCreateSerializer,
    PublicParticipantSerializer,
    validate_each,
)

_MESSAGE = PublicMessageCreateSerializer._declared_fields
_CHAT = PublicChatCreateSerializer._declared_fields
_PARTICIPANT = PublicParticipantSerializer._declared_fields


class _Unsure(Exception):
    """The item is left to the serializer."""


# Each declared field becomes a check `(value, out, zone)` built once, with the field's limits bound (issue 19: reading
# them from the field on every item was half of the validator's time); `empty` is a key the item does not have.

def _default(field, key: str):
    if field.required:
        def check(out):
            raise _Unsure
    elif field.default is empty:
        def check(out):
            return None
    elif callable(field.default):
        def check(out):
            out[key] = field.default()
    else:
        def check(out):
            out[key] = field.default
    return check


def _char(field, key: str):
    default, max_length, allow_null = _default(field, key), field.max_length, field.allow_null
    trim, allow_blank = field.trim_whitespace, field.allow_blank

    def check(value, out, zone):
        if value is empty:
            return default(out)
        if value is None:
            if not allow_null:
                raise _Unsure
            out[key] = None
            return None
        if not isinstance(value, str) or (max_length is not None and len(value) > max_length):
            raise _Unsure  # the length sent counts (StrictSerializer), not the trimmed one
        if trim:
            value = value.strip()
        if not value and not allow_blank:
            raise _Unsure
        out[key] = value
        return None
    return check


def _choice(field, key: str):
    default, choices = _default(field, key), field.choice_strings_to_values

    def check(value, out, zone):
        if value is empty:
            return default(out)
        if not isinstance(value, str) or value not in choices:
            raise _Unsure
        out[key] = choices[value]
        return None
    return check


def _metadata(field, key: str):
    default, validators = _default(field, key), field.validators

    def check(value, out, zone):
        if value is empty:
            return default(out)
        if not isinstance(value, dict):
            raise _Unsure
        for validator in validators:
            validator(value)  # raises: unsure
        out[key] = value
        return None
    return check


def _datetime(field, key: str):
    # DateTimeField.to_internal_value for ISO 8601 with an offset (the field's parsing, then its time zone,
    # looked up once per page); a time without an offset, or another input format, is the field's to judge
    default, allow_null = _default(field, key), field.allow_null
    formats = getattr(field, "input_formats", api_settings.DATETIME_INPUT_FORMATS)
    iso = [f.lower() for f in formats] == [ISO_8601]

    def check(value, out, zone):
        if value is empty:
            return default(out)
        if value is None and allow_null:
            out[key] = None
            return None
        if not isinstance(value, str):
            raise _Unsure
        parsed = parse_datetime(value) if iso else None
        if parsed is None or parsed.tzinfo is None or zone is None:
            raise _Unsure
        out[key] = parsed.astimezone(zone)
        return None
    return check


_KINDS = {"CharField": _char, "ChoiceField": _choice, "JSONObjectField": _metadata, "DateTimeField": _datetime}


def _plan(declared: dict, special: dict | None = None) -> tuple[frozenset, list]:
    """(the keys an object may have, [(key, check)] in declared order); `special`: checks of nested fields by name."""
    special = special or {}
    return frozenset(declared), [(name, special.get(name) or _KINDS[type(field).__name__](field, field.source or name))
                                 for name, field in declared.items()]


def _fields(data, plan: tuple[frozenset, list], zone) -> dict:
    """The fields of one object, in declared order (as the serializer orders them)."""
    keys, steps = plan
    if not isinstance(data, dict) or not keys.issuperset(data):
        raise _Unsure
    out, get = {}, data.get
    for name, check in steps:
        check(get(name, empty), out, zone)
    return out


_PARTICIPANT_PLAN = _plan(_PARTICIPANT)


def _participants(value, out, zone) -> None:
    field = _CHAT["participants"]
    if value is empty:
        out["participants"] = field.default()
    elif isinstance(value, list) and len(value) <= field.max_length:
        out["participants"] = [_fields(p, _PARTICIPANT_PLAN, zone) for p in value]
        ids = [p["external_id"] for p in out["participants"]]
        if len(ids) != len(set(ids)):
            raise _Unsure
    else:
        raise _Unsure


_CHAT_PLAN = _plan(_CHAT, {"participants": _participants})


def _chat(value, out, zone) -> None:
    if value is empty:
        raise _Unsure
    out["chat"] = _fields(value, _CHAT_PLAN, zone)


def _attachments(value, out, zone) -> None:
    if value is not empty and value != []:  # attachments: the serializer's work
        raise _Unsure


_MESSAGE_PLAN = _plan(_MESSAGE, {"chat": _chat, "attachments": _attachments})


def _message(item, zone) -> dict:
    message = _fields(item, _MESSAGE_PLAN, zone)
    if not message.get("reply_to"):  # as the serializer's validate(): empty values are dropped
        message.pop("reply_to", None)
    if not message["text"]:
        raise _Unsure
    return message


def _zone():
    """The time zone `sentAt` is given in (DateTimeField.enforce_timezone), looked up once per page."""
    field = _MESSAGE["sentAt"]
    return field.timezone if hasattr(field, "timezone") else field.default_timezone()


def validate_messages(items: list) -> tuple[list[tuple[int, dict]], dict[int, dict]]:
    """As `validate_each(PublicMessageCreateSerializer, items)`: `([(index, validated_data)], {index: errors})`."""
    valid, unsure, zone = [], [], _zone()
    for index, item in enumerate(items):
        try:
            valid.append((index, _message(item, zone)))
        except Exception:  # noqa: BLE001 (anything unexpected: the serializer judges the item)
            unsure.append(index)
    if not unsure:
        return valid, {}
    judged, errors = validate_each(PublicMessageCreateSerializer, [items[index] for index in unsure])
    valid.extend((unsure[position], data) for position, data in judged)
    valid.sort(key=lambda pair: pair[0])
    return valid, {unsure[position]: detail for position, detail in errors.items()}


def validate_message(body) -> dict:
    """`POST /api/v1/messages`: the validated body, or the serializer's ValidationError (its errors, field by field).
    The JSON parser has already refused unstorable text (the precondition above)."""
    valid, errors = validate_messages([body])
    if errors:
        raise ValidationError(errors[0])
    return valid[0][1]
