import codecs

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils import json


class SafeJSONParser(JSONParser):
    """JSONParser that answers 400 (not 500) to hostile JSON.

    - pathologically nested JSON ("[[[[…" within the body limit) would overflow the recursion limit;
    - an object with thousands of fields is refused before any view sees it: no object in any API
      has more than `DATA_UPLOAD_MAX_NUMBER_FIELDS` (Django's own cap for form fields, 1000) keys.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS

        def object_pairs(pairs):
            if limit is not None and len(pairs) > limit:
                raise exceptions.ParseError(f"В JSON-объекте больше {limit} полей.")
            return dict(pairs)

        try:
            return json.load(codecs.getreader(encoding)(stream), parse_constant=json.strict_constant,
                             object_pairs_hook=object_pairs)
        except RecursionError:
            raise exceptions.ParseError("JSON слишком глубокой вложенности.")
        except ValueError as exc:  # includes invalid UTF-8 (UnicodeDecodeError)
            raise exceptions.ParseError(f"JSON parse error - {exc}")
