"""Serializer fields that take a JSON string only.

DRF's CharField turns a number or a boolean into its text; the OpenAPI schema says `string`, so
`0` or `true` where a string is expected is a 400 naming the field, as the schema promises.
"""

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
