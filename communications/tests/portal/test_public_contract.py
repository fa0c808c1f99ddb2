"""Every public operation documents its auth scheme, its errors and examples — and the errors are real."""

import re

import pytest

from communications.portal.openapi import schema_generate
from communications.tests.factories import integration_create

ERROR_REF = "#/components/schemas/Error"  # the one error schema (issue 16 item 10)


def _operations():
    schema = schema_generate("public")
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


OPERATIONS = _operations()


@pytest.mark.parametrize("path,method,operation", OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_operation_declares_auth_errors_and_examples(path, method, operation):
    responses = operation["responses"]
    # auth: the integration token, and nothing else
    assert operation["security"] == [{"integrationToken": []}]
    # Russian summary
    assert re.search("[а-яА-Я]", operation["summary"])
    # errors every operation can answer
    expected = {"401", "413", "429"}
    if "requestBody" in operation:
        expected.add("400")
    if "{" in path or method in {"get", "delete"}:
        expected.add("404")
    assert expected <= set(responses), expected - set(responses)
    # every error is the documented envelope, with an example
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            media = response["content"]["application/json"]
            assert media["schema"]["$ref"] == ERROR_REF, status
            assert media["examples"], status
    # request and success response examples
    if "requestBody" in operation:
        # JSON, or multipart/form-data for the file upload
        assert all(media["examples"] for media in operation["requestBody"]["content"].values())
    for status, response in responses.items():
        if status.startswith("2") and "content" in response:
            assert response["content"]["application/json"].get("examples"), status


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", [("delete", "/api/v1/channels/ch-1"), ("post", "/api/v1/chats/c-1/seen"),
                                         ("get", "/api/v1/webhooks"), ("delete", "/api/v1/webhooks")])
def test_operations_without_body_really_answer_413_to_a_huge_body(method, path):
    # given an authenticated provider
    api = integration_create().client
    # when it sends more than 2 MB to an operation that takes no body
    response = api.generic(method.upper(), path, data="x" * (2 * 1024 * 1024 + 1), content_type="application/json")
    # then the declared 413 envelope comes back
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
