import re

import pytest
from drf_spectacular.generators import SchemaGenerator

PUBLIC_OPERATIONS = {
    ("/api/v1/channels", "post"), ("/api/v1/channels/{channelId}", "delete"), ("/api/v1/chats", "post"),
    ("/api/v1/chats/{chatId}", "patch"), ("/api/v1/chats/{chatId}/seen", "post"), ("/api/v1/messages", "post"),
    ("/api/v1/messages/{messageId}", "patch"), ("/api/v1/messages/{messageId}/status", "post"),
    ("/api/v1/webhooks", "post"), ("/api/v1/webhooks", "get"), ("/api/v1/webhooks", "delete"),
    ("/api/v1/bulk/messages", "post"),
    ("/api/v1/channels/{channelId}", "patch"),  # beyond the spec: changes of a channel (the repeat rule, issue 16)
    ("/api/v1/uploads", "post"),  # attachments (issue 21)
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_public_paths_are_exactly_the_spec_paths(schema):
    documented = {(p, m) for p, ops in schema["paths"].items() if p.startswith("/api/v1/") for m in ops
                  if m in {"get", "post", "patch", "put", "delete"}}
    assert documented == PUBLIC_OPERATIONS


def test_every_public_operation_has_russian_summary_bearer_auth_and_error_responses(schema):
    assert schema["components"]["securitySchemes"]["integrationToken"]["scheme"] == "bearer"
    for path, method in PUBLIC_OPERATIONS:
        operation = schema["paths"][path][method]
        assert re.search("[а-яА-Я]", operation["summary"]), (path, method)
        assert operation["security"] == [{"integrationToken": []}], (path, method)
        assert "401" in operation["responses"] and "429" in operation["responses"], (path, method)
        if "{" in path or method in {"get", "delete"}:
            assert "404" in operation["responses"], (path, method)
        if "requestBody" in operation:
            assert "400" in operation["responses"], (path, method)


def test_operations_with_a_body_document_415(schema):
    """Issue 16 item 8: a body that is not JSON gets 415, and the document says so."""
    for path, method in PUBLIC_OPERATIONS:
        operation = schema["paths"][path][method]
        if "requestBody" in operation:
            assert "415" in operation["responses"], (path, method)
