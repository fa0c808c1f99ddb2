import codecs
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

# U+0000 (PostgreSQL text and jsonb can't hold it) and lone surrogates (UTF-8 can't encode them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_escaped(text: str) -> str:
    """`text` with every unstorable character spelled as its JSON escape, safe to render."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def unstorable_reason(char: str, where: str) -> str:
    if char == "\x00":
        return f"{where} содержит символ U+0000, его нельзя сохранить."
    return f"{where} содержит одиночный суррогат U+{ord(char):04X}, это не текст UTF-8."


def unstorable_text(value, skip_lists: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(dotted path, reason) of the first key or string the database can't store, or None.

    Paths look like `chat.metadata.src\\u0000` (list items by index, the bad key spelled with
    its escape). Iterative: a body as deep as the JSON decoder allows can't overflow the stack.
    Top-level lists named in `skip_lists` are not entered (their items are judged one by one).
    """
    stack = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if match := _UNSTORABLE.search(item):
                return ".".join(path) or "non_field_errors", unstorable_reason(match.group(), "Строка")
        elif isinstance(item, dict):
            for key, child in item.items():
                if match := _UNSTORABLE.search(key):
                    return ".".join((*path, unstorable_escaped(key))), unstorable_reason(match.group(), "Ключ")
                if not (path == () and key in skip_lists and isinstance(child, list)):
                    stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, str(index)), child) for index, child in enumerate(item))
    return None


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
