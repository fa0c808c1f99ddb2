"""Isolation and authorization, generated from the OpenAPI schema.

- Every route with a path id, called by tenant A / provider X / developer 1 / a recipient with
  the ids of another tenant, provider, developer or recipient: 404 or 403, and no row changes.
- Every operation called by every principal that is not its legitimate caller: 401 or 403.
- A deactivated integration token fails on the very next request.
"""

import json

import pytest

from .callers import api_schema, client_for, fingerprint, principal_for, valid_bodies, valid_query

METHODS = {"get", "post", "put", "patch", "delete"}
SCHEMA_OPERATIONS = sorted((path, method.upper()) for path, ops in api_schema()["paths"].items() for method in ops
                           if method in METHODS)

# prefix -> (caller, owner of the foreign ids) pairs
FOREIGN = {
    "/api/v1/": [("integration:A-X", "B-X"), ("integration:A-X", "A-Y"), ("integration:B-Y", "A-Y")],
    "/internal/v1/marketplace/": [("developer:dev-1", "dev-2")],
    "/notifications/": [("recipient", "recipient-2")],
    "/internal/v1/integration-tokens/": [("integration:A-X", "B-X"), ("developer:dev-1", "B-X")],
    "/internal/v1/providers/": [("developer:dev-1", "dev-2"), ("integration:A-X", "dev-2")],
    # the CRM acts for tenant A with provider X (scope in body/query): B's and Y's chats and messages are foreign
    "/internal/v1/operator/": [("service:crm", "B-X"), ("service:crm", "A-Y")],
}
ID_ROUTES = [(path, method) for path, method in SCHEMA_OPERATIONS if "{" in path]


@pytest.fixture
def world(shared_world, db):
    """The module's world, built once (read-only tests); each test runs in its own rolled-back savepoint."""
    return shared_world


def _foreign_cases():
    for path, method in ID_ROUTES:
        prefixes = [p for p in FOREIGN if path.startswith(p)]
        assert prefixes, f"{method} {path}: say in FOREIGN whose ids it takes"
        for caller, owner in FOREIGN[max(prefixes, key=len)]:
            yield path, method, caller, owner


FOREIGN_CASES: dict[tuple[str, str], list[tuple[str, str]]] = {}
for _path, _method, _caller, _owner in _foreign_cases():
    FOREIGN_CASES.setdefault((_path, _method), []).append((_caller, _owner))


def _call(world, token, method, path, path_ids):
    url = path
    for name, value in path_ids.items():
        url = url.replace("{" + name + "}", value)
    assert "{" not in url, f"no id for {url}"
    body = valid_bodies(world).get((path, method))
    if method == "GET":
        return client_for(token).get(url, valid_query(world, path))
    return client_for(token).generic(method, url, data=None if body is None else json.dumps(body),
                                     content_type="application/json")


@pytest.mark.parametrize(("path", "method"), list(FOREIGN_CASES), ids=[f"{m} {p}" for p, m in FOREIGN_CASES])
def test_foreign_ids_are_not_found_and_nothing_changes(path, method, world):
    before, wrong = fingerprint(), []
    for caller, owner in FOREIGN_CASES[(path, method)]:
        # given: the caller's own ids everywhere except the foreign owner's
        path_ids = {**world.path_ids_for(path), **world.ids[owner]}
        # when
        response = _call(world, world.tokens[caller], method, path, path_ids)
        # then
        if response.status_code not in (401, 403, 404):
            wrong.append((caller, owner, response.status_code, response.content[:200]))
    assert wrong == []
    assert fingerprint() == before


def test_own_ids_do_work(world):
    # the same calls with the caller's own ids succeed, so the 404s above are isolation, not broken ids
    a_x = world.client("integration:A-X")
    assert a_x.post(f"/api/v1/chats/{world.ids['A-X']['chatId']}/seen").status_code == 200
    assert a_x.patch(f"/api/v1/messages/{world.ids['A-X']['messageId']}", {"text": "ok"}, format="json").status_code == 200
    dev = world.client("developer:dev-1")
    assert dev.get(f"/internal/v1/marketplace/apps/{world.apps['dev-1']}").status_code == 200
    me = world.client("recipient")
    assert me.post(f"/notifications/recipients/{world.recipient_id}/binding-links").status_code == 201


# --- who may call what ---------------------------------------------------------------------------------

def legitimate(path: str, principal: str) -> bool:
    """Principals the API admits for a path (their own objects only, tested above)."""
    owner = principal_for(path)
    if owner is None:
        return True  # /api/auth/: public endpoints
    if path.startswith("/api/v1/"):
        return principal.startswith("integration:")
    if owner.startswith("developer:"):
        return principal.startswith("developer:")
    if path in ("/notifications/subscribe", "/notifications/recipients/{recipient_id}/binding-links"):
        return principal in ("service:notifications", "recipient")
    return principal == owner


PRINCIPALS = ["integration:A-X", "developer:dev-1", "recipient", "service:marketplace", "service:crm",
              "service:notifications", "anonymous", "garbage"]
MATRIX = [(path, method, principal) for path, method in SCHEMA_OPERATIONS for principal in PRINCIPALS
          if not legitimate(path, principal) and principal_for(path) is not None]
GUARDED = sorted({(path, method) for path, method, _ in MATRIX})


@pytest.mark.parametrize(("path", "method"), GUARDED, ids=[f"{m} {p}" for p, m in GUARDED])
def test_only_the_legitimate_caller_is_admitted(path, method, world):
    before, wrong = fingerprint(), []
    for principal in [w for p, m, w in MATRIX if (p, m) == (path, method)]:
        # given
        token = {"anonymous": None, "garbage": "not.a.jwt"}.get(principal, world.tokens.get(principal))
        # when
        response = _call(world, token, method, path, world.path_ids_for(path))
        # then
        if response.status_code not in (401, 403):
            wrong.append((principal, response.status_code, response.content[:200]))
    assert wrong == []
    assert fingerprint() == before


def test_matrix_covers_the_rules_of_the_issue():
    admitted = {(p, m, w) for p, m, w in MATRIX}
    assert ("/notifications/send", "POST", "recipient") in admitted  # a user cannot send notifications
    assert ("/internal/v1/providers", "POST", "developer:dev-1") in admitted  # developers: no internal API
    assert ("/internal/v1/integration-tokens", "POST", "developer:dev-1") in admitted
    assert ("/internal/v1/marketplace/apps", "POST", "integration:A-X") in admitted  # providers: no marketplace
    assert ("/internal/v1/tenant-configurations", "POST", "integration:A-X") in admitted  # nor internal


def test_deactivated_integration_token_fails_on_the_next_request(world):
    # given: a working token
    a_x = world.client("integration:A-X")
    assert a_x.get("/api/v1/webhooks").status_code == 200
    # when: the CRM deactivates it
    jti = world.ids["A-X"]["token_id"]
    assert world.client("service:crm").post(f"/internal/v1/integration-tokens/{jti}/deactivate").status_code == 200
    # then: the very next request is refused, and other integrations keep working
    response = a_x.get("/api/v1/webhooks")
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_inactive"
    assert world.client("integration:B-X").get("/api/v1/webhooks").status_code == 200
