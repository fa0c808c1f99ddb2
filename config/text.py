"""Text PostgreSQL can't store: U+0000 (`text` and `jsonb` refuse it) and lone surrogates
(UTF-8 can't encode them, JSON can spell them as `\\ud800`). Used by the API's JSON parser
(refuse, naming the field), inbound provider items (skip the item) and the outbound client
(replace them in what a provider answered, so the answer can be recorded)."""

import json
import re

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
    if _clean(value):
        return None
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


def _clean(value) -> bool:
    """True when no key or string of `value` holds an unstorable character, proved in C: the JSON encoder writes
    U+0000 as its escape and a lone surrogate as itself, which UTF-8 refuses to encode. About half the cost of
    the walk with paths (issue 19: history pages and request bodies are clean). False when unsure (a literal
    backslash-u0000 in the text, or a value JSON can't encode): the walk decides."""
    try:
        encoded = json.dumps(value, ensure_ascii=False)
        encoded.encode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return "\\u0000" not in encoded


def unstorable_replaced(value):
    """`value` (parsed JSON) with every unstorable character in keys and strings replaced by U+FFFD.
    Returns `value` itself when there is nothing to replace."""
    if unstorable_text(value) is None:
        return value
    return _replaced(value)


def _replaced(value):
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_UNSTORABLE.sub("\ufffd", key): _replaced(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    return value
