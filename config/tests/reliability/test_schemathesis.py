"""Contract fuzzing: schemathesis in-process against every operation of every API surface.

Each operation gets positive (schema-valid) and negative (schema-violating) examples, sent
through Django's real WSGI handler with a valid token of the surface's legitimate caller.
Checks: no 5xx, responses and status codes as documented, auth not ignored, invalid data
rejected with a 4xx.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from communications.portal.openapi import SCHEMAS, schema_generate

from .callers import api_schema, bearer, principal_for, valid_query

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, ignored_auth,
          negative_data_rejection]
# "existing-ids": schema-valid requests whose path ids name the caller's own existing objects
# (random ids mostly reach the 404 branch only).
EXAMPLES = {"positive": 25, "negative": 15, "existing-ids": 15}
METHODS = {"get", "post", "put", "patch", "delete"}
# POST /bulk/messages judges each item on its own by contract (docs/public-api.md): an invalid item is
# a 200 with result=error for it, so "schema-violating request accepted" does not apply there.
PER_ITEM_VALIDATION = {("/api/v1/bulk/messages", "POST")}
# The three published documents (public, internal, notifications: docs/openapi/*.yaml), each as served.
SPLIT = {name: schema_generate(name) for name in SCHEMAS}
CASES = sorted((name, path, method.upper(), mode) for name, document in SPLIT.items()
               for path, ops in document["paths"].items() for method in ops
               if method in METHODS for mode in EXAMPLES if mode != "existing-ids" or "{" in path)


def test_the_split_documents_cover_every_api_operation():
    operations = {(p, m) for p, ops in api_schema()["paths"].items() for m in ops if m in METHODS}
    assert {(p, m.lower()) for _, p, m, _ in CASES} == operations


@pytest.fixture(scope="module")
def loaded():
    return {name: schemathesis.openapi.from_dict(document) for name, document in SPLIT.items()}


@pytest.mark.parametrize(("name", "path", "method", "mode"), CASES,
                         ids=[f"{n}: {m} {p} {mode}" for n, p, m, mode in CASES])
def test_operation_conforms_to_its_schema(name, path, method, mode, loaded, world, in_process_wsgi,
                                          generous_throttles):
    # given: the operation and a token of its legitimate caller
    loaded_schema = loaded[name]
    loaded_schema.app = WSGIHandler()
    operation = loaded_schema[path][method]
    principal = principal_for(path)
    headers = bearer(world.tokens[principal]) if principal else {}
    path_parameters = None
    if mode == "existing-ids":
        path_parameters = {p.name: world.path_ids_for(path)[p.name] for p in operation.path_parameters}
    generation_mode = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    calls = []

    @given(case=operation.as_strategy(generation_mode=generation_mode, path_parameters=path_parameters))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        # Werkzeug 3.1 encodes an empty multipart text part without the CRLF before the next boundary, so the
        # server never sees that field: such a case cannot be sent in-process (test_uploads covers empty values).
        assume(not (mode == "negative" and "multipart" in (case.media_type or "") and isinstance(case.body, dict)
                    and "" in case.body.values()))
        if mode == "existing-ids" and valid_query(world, path):  # the operator API: the scope of the ids
            (case.query if method == "GET" else case.body).update(valid_query(world, path))
        # when: the generated request is sent; then: every check holds
        checks = [c for c in CHECKS if not ((path, method) in PER_ITEM_VALIDATION and c is negative_data_rejection)]
        response = case.call_and_validate(headers=headers, checks=checks)
        calls.append(response.status_code)

    run()
    assert calls, "no example was generated"
    if mode == "existing-ids":  # the caller's own objects are really reached, not just 404
        assert any(code < 500 and code != 404 for code in calls), calls
