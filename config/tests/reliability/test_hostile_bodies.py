"""Hostile bodies on every JSON endpoint: a clean 4xx in the error envelope, never a 500, no writes.

The endpoint list comes from the OpenAPI schema (every operation with a request body), so a new
route is covered as soon as it is documented; `valid_bodies` must know a valid body for it.
"""

import json

import pytest

from .callers import body_sweep, is_error_envelope, json_operations, valid_bodies

pytestmark = pytest.mark.slow  # hostile input on every operation; `make test-fast` leaves it out

JSON_OPERATIONS = json_operations()
HUGE = "я" * 200_000  # 400 KB of UTF-8: under the 2 MB body cap, far over every text limit


@pytest.fixture
def world(shared_world, db):
    """The module's world, built once (read-only tests); each test runs in its own rolled-back savepoint."""
    return shared_world


def _string_leaves(value, path=()):
    """Paths of every string in a JSON value (dict keys and list items)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))


def _with(value, path, leaf):
    if not path:
        return leaf
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = leaf
    return copy


def _hostile_variants(body: dict):
    yield "oversized (3 MB)", json.dumps({**body, "padding": "x" * 3 * 1024 * 1024}).encode(), "application/json"
    yield "deeply nested", b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"
    yield "5000 fields", json.dumps({**body, **{f"field{i}": i for i in range(5000)}}).encode(), "application/json"
    yield "invalid UTF-8", json.dumps(body).encode()[:-1] + b', "x": "\xff\xfe\xc3"}', "application/json"
    yield "truncated JSON", json.dumps(body).encode()[:-3], "application/json"
    yield "JSON as text/plain", json.dumps(body).encode(), "text/plain"
    yield "form-encoded", b"a=1&b=2", "application/x-www-form-urlencoded"
    yield "XML", b"<a>1</a>", "application/xml"
    yield "array instead of object", json.dumps([body]).encode(), "application/json"
    for leaf in _string_leaves(body):
        original = _with(body, (), body)
        for step in leaf:
            original = original[step]
        yield f"huge string in {'.'.join(map(str, leaf))}", json.dumps(_with(body, leaf, original + HUGE)).encode(), \
            "application/json"


def test_every_json_operation_has_a_known_valid_body(world):
    assert set(JSON_OPERATIONS) <= set(valid_bodies(world)), "add a valid body for the new route in callers.valid_bodies"


def _clean_refusal(name, response, body) -> bool:
    if name.startswith("huge string in messages.") and response.request["PATH_INFO"] == "/api/v1/bulk/messages":
        # bulk items are judged one by one (docs/public-api.md): 200, the item is an error, nothing stored
        return response.status_code == 200 and body["errors"] == 1 and body["created"] == 0
    return 400 <= response.status_code < 500 and is_error_envelope(body)


@pytest.mark.parametrize(("path", "method"), JSON_OPERATIONS, ids=[f"{m} {p}" for p, m in JSON_OPERATIONS])
def test_hostile_bodies_get_a_clean_4xx_and_write_nothing(path, method, world, generous_throttles):
    # given: the legitimate caller of the endpoint and a valid body to start from
    variants = _hostile_variants(valid_bodies(world)[(path, method)])
    # when each variant is sent, then each answer is a clean 4xx and nothing is written
    assert body_sweep(world, path, method, variants, _clean_refusal) == []


def test_bulk_of_101_messages_is_refused_whole(world):
    from communications.models import Message

    # given
    message = valid_bodies(world)[("/api/v1/bulk/messages", "POST")]["messages"][0]
    items = [{**message, "id": f"bulk-{i}"} for i in range(101)]
    before = Message.objects.count()
    # when
    response = world.client("integration:A-X").post("/api/v1/bulk/messages", {"messages": items}, format="json")
    # then
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["fields"]
    assert Message.objects.count() == before
    # and the limit itself is accepted
    ok = world.client("integration:A-X").post("/api/v1/bulk/messages", {"messages": items[:100]}, format="json")
    assert ok.status_code == 200 and ok.json()["created"] == 100
