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


def _default(field, out: dict, key: str) -> None:
    if field.required:
        raise _Unsure
    if field.default is not empty:
        out[key] = field.default() if callable(field.default) else field.default


def _char(field, value, out: dict, key: str, zone) -> None:
    if value is empty:
        return _default(field, out, key)
    if value is None:
        if not field.allow_null:
            raise _Unsure
        out[key] = None
        return None
    if not isinstance(value, str) or (field.max_length is not None and len(value) > field.max_length):
        raise _Unsure  # the length sent counts (StrictSerializer), not the trimmed one
    if field.trim_whitespace:
        value = value.strip()
    if not value and not field.allow_blank:
        raise _Unsure
    out[key] = value
    return None


def _choice(field, value, out: dict, key: str, zone) -> None:
    if value is empty:
        return _default(field, out, key)
    if not isinstance(value, str) or value not in field.choice_strings_to_values:
        raise _Unsure
    out[key] = field.choice_strings_to_values[value]
    return None


def _metadata(field, value, out: dict, key: str, zone) -> None:
    if value is empty:
        return _default(field, out, key)
    if not isinstance(value, dict):
        raise _Unsure
    for validator in field.validators:
        validator(value)  # raises: unsure
    out[key] = value
    return None


def _datetime(field, value, out: dict, key: str, zone) -> None:
    if value is empty:
        return _default(field, out, key)
    if value is None and field.allow_null:
        out[key] = None
        return None
    if not isinstance(value, str):
        raise _Unsure
    # DateTimeField.to_internal_value for ISO 8601 with an offset (the field's parsing, then its time zone,
    # looked up once per page); a time without an offset, or another input format, is the field's to judge
    formats = getattr(field, "input_formats", api_settings.DATETIME_INPUT_FORMATS)
    parsed = parse_datetime(value) if [f.lower() for f in formats] == [ISO_8601] else None
    if parsed is None or parsed.tzinfo is None or zone is None:
        raise _Unsure
    out[key] = parsed.astimezone(zone)
    return None


_KINDS = {"CharField": _char, "ChoiceField": _choice, "JSONObjectField": _metadata, "DateTimeField": _datetime}


def _fields(data, declared: dict, zone, skip: tuple[str, ...] = ()) -> dict:
    """Plain fields of one object, in declared order (as the serializer orders them)."""
    if not isinstance(data, dict) or not data.keys() <= declared.keys():
        raise _Unsure
    out = {}
    for name, field in declared.items():
        if name not in skip:
            _KINDS[type(field).__name__](field, data.get(name, empty), out, field.source or name, zone)
    return out


def _chat(data, zone) -> dict:
    chat = _fields(data, _CHAT, zone, skip=("participants",))
    participants = data.get("participants", empty)
    field = _CHAT["participants"]
    if participants is empty:
        chat["participants"] = field.default()
    elif isinstance(participants, list) and len(participants) <= field.max_length:
        chat["participants"] = [_fields(p, _PARTICIPANT, zone) for p in participants]
        ids = [p["external_id"] for p in chat["participants"]]
        if len(ids) != len(set(ids)):
            raise _Unsure
    else:
        raise _Unsure
    return chat


def _message(item, zone) -> dict:
    message = _fields(item, _MESSAGE, zone, skip=("chat", "attachments"))
    if "chat" not in item or item.get("attachments", []) != []:  # attachments: the serializer's work
        raise _Unsure
    message["chat"] = _chat(item["chat"], zone)
    message = {key: message[key] for key in _ORDER if key in message}
    if not message.get("reply_to"):  # as the serializer's validate(): empty values are dropped
        message.pop("reply_to", None)
    if not message["text"]:
        raise _Unsure
    return message


def _zone():
    """The time zone `sentAt` is given in (DateTimeField.enforce_timezone), looked up once per page."""
    field = _MESSAGE["sentAt"]
    return field.timezone if hasattr(field, "timezone") else field.default_timezone()


_ORDER = [field.source or name for name, field in _MESSAGE.items()]


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
