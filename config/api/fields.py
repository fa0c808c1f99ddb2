"""Serializer fields that behave as the OpenAPI schema documents them.

DRF's CharField turns a number or a boolean into its text; the schema says `string`, so `0` or `true`
where a string is expected is a 400 naming the field. Also: a JSON object, a list without repeats, and
date-times that stay valid RFC 3339 for any year.
"""

import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StringOnlyMixin:
    default_error_messages = {"not_a_string": "Ожидается строка."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StringField(StringOnlyMixin, serializers.CharField):
    pass


class SlugStringField(StringOnlyMixin, serializers.SlugField):
    pass


class RegexStringField(StringOnlyMixin, serializers.RegexField):
    pass


class UniqueListField(serializers.ListField):
    """A list without repeated items; the schema says `uniqueItems: true` (config.api.schema.AutoSchema)."""

    default_error_messages = {"not_unique": "Элементы списка не должны повторяться."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) != len({repr(item) for item in value}):
            self.fail("not_unique")
        return value


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFileField(serializers.FileField):
    """An uploaded file of at least one byte (DRF refuses an empty one); the schema says `minLength: 1`."""


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (validators check the rest); the schema says `type: object`."""


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why `value` is not of the JSON type `field` documents, or None. For strict bodies: DRF turns a
    number into the text of a CharField and "false" or 0 into a BooleanField, and counts a string's length
    after trimming it, where the schema's maxLength counts what was sent."""
    if field.read_only or value is None:
        return None  # null: the field's own allow_null rule answers
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Ожидается строка."
    if isinstance(field, serializers.CharField) and field.max_length is not None and len(value) > field.max_length:
        # the schema's maxLength is of the string sent; DRF would trim whitespace first and then count
        return str(field.error_messages["max_length"]).format(max_length=field.max_length)
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Ожидается true или false."
    return None


class RFC3339DateTimeField(serializers.DateTimeField):
    """Output like DateTimeField, but valid RFC 3339 for any stored date: before 1919 Europe/Moscow had
    offsets with seconds (+02:30:17), which `date-time` can't spell; such a value is given in UTC."""

    def to_representation(self, value):
        text = super().to_representation(value)
        if isinstance(text, str) and value is not None and self.enforce_timezone(value).utcoffset().seconds % 60:
            return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
        return text


class BlankFormValuesRefused:
    # For serializers of query strings and multipart forms: DRF reads an empty value of an optional field as
    # "not given", but the schema says a value has at least one character. An empty one is a 400 naming the
    # field (fields that allow blank excepted). A comment, not a docstring: it must not become the schema's text.

    BLANK_MESSAGE = "Пустое значение: уберите поле или укажите значение."

    def validate(self, attrs):
        attrs = super().validate(attrs)
        data = self.initial_data if hasattr(self.initial_data, "get") else {}
        blank = {name: [self.BLANK_MESSAGE] for name, field in self.fields.items()
                 if not field.read_only and not getattr(field, "allow_blank", False)
                 and name in data and not getattr(data.get(name), "name", None) and not str(data.get(name)).strip()}
        if blank:
            raise serializers.ValidationError(blank)
        return attrs
