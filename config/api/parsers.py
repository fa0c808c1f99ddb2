import codecs

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from config.text import unstorable_text


class SafeJSONParser(JSONParser):
    """JSONParser that answers 400 (not 500) to hostile JSON.

    - pathologically nested JSON ("[[[[…" within the body limit) would overflow the recursion limit;
    - an object with thousands of fields is refused before any view sees it: no object in any API
      has more than `DATA_UPLOAD_MAX_NUMBER_FIELDS` (Django's own cap for form fields, 1000) keys;
    - U+0000 or a lone surrogate in any key or string is a validation error naming the field.
      A view with `json_item_lists = ("messages",)` judges the items of that list itself.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS

        def object_pairs(pairs):
            if limit is not None and len(pairs) > limit:
                raise exceptions.ParseError(f"В JSON-объекте больше {limit} полей.")
            return dict(pairs)

        try:
            data = json.load(codecs.getreader(encoding)(stream), parse_constant=json.strict_constant,
                             object_pairs_hook=object_pairs)
        except RecursionError:
            raise exceptions.ParseError("JSON слишком глубокой вложенности.")
        except ValueError as exc:  # includes invalid UTF-8 (UnicodeDecodeError)
            raise exceptions.ParseError(f"JSON parse error - {exc}")
        found = unstorable_text(data, getattr(parser_context.get("view"), "json_item_lists", ()))
        if found:
            raise exceptions.ValidationError({found[0]: [found[1]]})
        return data
