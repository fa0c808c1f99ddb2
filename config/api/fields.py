"""Serializer fields that take a JSON string only.

DRF's CharField turns a number or a boolean into its text; the OpenAPI schema says `string`, so
`0` or `true` where a string is expected is a 400 naming the field, as the schema promises.
"""

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


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (validators check the rest); the schema says `type: object`."""


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why `value` is not of the JSON type `field` documents, or None. For strict bodies: DRF turns a
    number into the text of a CharField and "false" or 0 into a BooleanField."""
    if field.read_only or value is None:
        return None  # null: the field's own allow_null rule answers
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Ожидается строка."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Ожидается true или false."
    return None
