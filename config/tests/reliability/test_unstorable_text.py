"""Text PostgreSQL can't store (U+0000) or UTF-8 can't encode (a lone surrogate), in any string,
key or value of any JSON body: a 400 that names the field, nothing written, never a 500.

The sweep takes every operation with a request body from the OpenAPI schema (as the hostile-body
sweep does) and poisons every string value and every object (with a new key) of a valid body.
`POST /api/v1/bulk/messages` judges items one by one: a poisoned message is an item error.
"""

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.text import unstorable_text

from .callers import body_sweep, json_operations, valid_bodies

JSON_OPERATIONS = json_operations()
BAD = {"NUL": ("\u0000", "\\u0000"), "lone surrogate": ("\ud800", "\\ud800")}
BULK = "/api/v1/bulk/messages"


@pytest.fixture
def world(shared_world, db):
    """The module's world, built once (its tests only read it); each test runs in its own rolled-back savepoint."""
    return shared_world


def _walk(value, path=()):
    """(path, kind) of every string value ("value") and every object ("object")."""
    if isinstance(value, str):
        yield path, "value"
    elif isinstance(value, dict):
        yield path, "object"
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def _poisoned(body: dict):
    """(description, body, expected field path) for every place a bad character can hide."""
    for path, kind in _walk(body):
        for name, (char, shown) in BAD.items():
            copy = json.loads(json.dumps(body))
            target = copy
            for step in path[:-1] if kind == "value" else path:
                target = target[step]
            if kind == "value":
                target[path[-1]] = f"a{char}b"
                field = path
            else:
                target[f"k{char}"] = "v"
                field = (*path, f"k{shown}")
            yield f"{name} in {kind} {'.'.join(map(str, path)) or '<body>'}", copy, field


def _fields(body: dict) -> dict:
    """Fields named by the project envelope or by the notification service's spec body."""
    if "error" in body:
        return body["error"].get("fields", {})
    return body.get("errors", {})


def _refused_naming_the_field(name, response, answer, field) -> bool:
    answer = answer or {}
    if response.request["PATH_INFO"] == BULK and len(field) > 2 and field[0] == "messages":
        item = (answer.get("results") or [{}])[0]
        return (response.status_code == 200 and answer["created"] == 0 and answer["errors"] == 1
                and ".".join(map(str, field[2:])) in item.get("errors", {}))
    return response.status_code == 400 and ".".join(map(str, field)) in _fields(answer)


@pytest.mark.parametrize(("path", "method"), JSON_OPERATIONS, ids=[f"{m} {p}" for p, m in JSON_OPERATIONS])
def test_unstorable_text_anywhere_gets_400_naming_the_field(path, method, world, generous_throttles):
    # given (ensure_ascii: the surrogate travels as the escape \ud800, as a hostile client sends it)
    variants = ((name, json.dumps(body, ensure_ascii=True).encode(), "application/json", field)
                for name, body, field in _poisoned(valid_bodies(world)[(path, method)]))
    # when each is sent, then each answer is a 400 naming the field and nothing is written
    assert body_sweep(world, path, method, variants, _refused_naming_the_field) == []


def test_nul_in_chat_metadata_key_is_a_400_naming_it(world):
    # given: the exact probe that answered 500 (jsonb can't hold U+0000)
    body = {"id": "chat-poison", "title": "Чат", "metadata": {"src\u0000": "crm"}}
    # when
    response = world.client("integration:A-X").post("/api/v1/chats", body, format="json")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {"metadata.src\\u0000": ["Ключ содержит символ U+0000, его нельзя сохранить."]}


def test_lone_surrogate_in_message_text_is_a_400_naming_it(world):
    # given
    raw = b'{"id": "m-sur", "text": "\\ud800", "chat": {"id": "chat-new"}}'
    # when
    response = world.client("integration:A-X").generic("POST", "/api/v1/messages", raw,
                                                       content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "text": ["Строка содержит одиночный суррогат U+D800, это не текст UTF-8."]}


def test_notification_send_keeps_its_spec_body(world):
    # given
    body = {"user_id": world.recipient_id, "service": "email", "subject": "Тема\u0000", "type": "notification",
            "message": "Текст"}
    # when
    response = world.client("service:notifications").post("/notifications/send", body, format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": "Invalid request format or service.",
                               "errors": {"subject": ["Строка содержит символ U+0000, его нельзя сохранить."]}}


@pytest.mark.postgres  # PostgreSQL refuses the lookup (config/api/errors.py); SQLite finds nothing: a 404
@pytest.mark.parametrize(("principal", "method", "url"), [
    ("integration:A-X", "patch", "/api/v1/chats/a%00b"),
    ("integration:A-X", "post", "/api/v1/messages/a%00b/status"),
    ("service:crm", "get", "/internal/v1/operator/chats/a%00b/messages"),
])
def test_nul_in_a_path_id_is_a_400_naming_the_path(principal, method, url, world):
    # given: an id with U+0000 in the URL (the database can't even look it up)
    client = world.client(principal)
    query = {"tenantId": str(world.integrations["A-X"].tenant_id), "providerCode": "prov-x"}
    # when
    response = getattr(client, method)(url, query if method == "get" else {**query, "title": "x"},
                                       **({} if method == "get" else {"format": "json"}))
    # then
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"path": ["Путь содержит символ U+0000, его нельзя сохранить."]}


# --- the check itself (config/text.py): the C-encoder proof of a clean value never hides a bad character --------------

_TEXT = st.text(alphabet=st.sampled_from(["a", "я", " ", "\\", "u", "0", '"', "\u0000", "\ud800", "\udfff", "\U0001f600"]),
                max_size=8)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20)


def _has_unstorable(value) -> bool:
    if isinstance(value, str):
        return any(c == "\u0000" or "\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


@given(_JSON)
def test_unstorable_text_finds_a_bad_character_wherever_it_is_and_only_then(value):
    assert (unstorable_text(value) is not None) == _has_unstorable(value)


def test_unstorable_text_is_not_fooled_by_text_that_spells_an_escape():
    # given: text spelling the escape (a backslash and "u0000"), and a value the JSON encoder cannot write
    # then: the first is storable; the second is judged by the walk, which still finds the NUL
    assert unstorable_text({"text": "\\u0000 \\ud800"}) is None
    assert unstorable_text({"at": datetime(2026, 1, 1), "items": ["ok", {"k": "a\u0000"}]})[0] == "items.1.k"
