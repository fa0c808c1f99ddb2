"""The committed OpenAPI documents are exactly what the code generates, and each is its own audience's API."""

import json

import pytest
import yaml
from drf_spectacular.validation import validate_schema

from communications.portal.openapi import SCHEMAS, committed_path, schema_generate, schema_yaml


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_document_equals_generated(name):
    # given the document generated from the code now
    generated = schema_yaml(name)
    # when compared with the committed file
    committed = committed_path(name).read_text(encoding="utf-8") if committed_path(name).exists() else ""
    # then they are identical
    assert committed == generated, (
        f"docs/openapi/{name}.yaml is out of date with the code: run `make openapi` and commit the result")


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_document_is_valid_openapi(name):
    validate_schema(schema_generate(name))


def _paths(name):
    return set(schema_generate(name)["paths"])


def test_public_document_holds_only_the_provider_api():
    paths = _paths("public")
    assert paths and all(path.startswith("/api/v1/") for path in paths)
    assert set(schema_generate("public")["components"]["securitySchemes"]) == {"integrationToken"}


def test_internal_apis_are_not_in_the_public_document():
    internal, notifications = _paths("internal"), _paths("notifications")
    assert any(p.startswith("/internal/v1/marketplace/") for p in internal)
    assert "/internal/v1/tenant-configurations" in internal
    assert not any(p.startswith("/api/v1/") for p in internal | notifications)
    assert notifications and all(p.startswith("/notifications/") for p in notifications)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_portal_serves_the_committed_document_as_yaml_and_json(client, name):
    committed = yaml.safe_load(committed_path(name).read_text(encoding="utf-8"))
    as_yaml = client.get(f"/developers/openapi/{name}.yaml")
    as_json = client.get(f"/developers/openapi/{name}.json")
    assert as_yaml.status_code == 200 and as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(as_yaml.content) == committed
    assert json.loads(as_json.content) == committed


def test_unknown_document_is_404(client):
    assert client.get("/developers/openapi/secret.yaml").status_code == 404
    assert client.get("/developers/openapi/public.xml").status_code == 404


def test_swagger_and_redoc_load_the_public_document(client):
    for url in ("/developers/api/swagger/", "/developers/api/redoc/"):
        page = client.get(url)
        assert page.status_code == 200
        assert b"/developers/openapi/public.json" in page.content
    # the full schema and its viewers keep working
    for url in ("/api/schema/", "/api/docs/", "/api/redoc/"):
        assert client.get(url).status_code == 200


# --- issue 16 item 10: base URL, schema names, one error schema, local assets -----------------------

@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_document_names_its_servers(name):
    servers = schema_generate(name).get("servers") or []
    assert servers and all(server["url"] for server in servers)


@pytest.mark.parametrize("name", ["public", "internal"])
def test_schema_names_are_meaningful_and_there_is_one_error_schema(name):
    schemas = schema_generate(name)["components"]["schemas"]
    assert "Body" not in schemas
    assert not [schema for schema in schemas if schema.endswith("RequestRequest")]
    envelopes = [schema for schema, body in schemas.items() if set(body.get("properties", {})) == {"error"}]
    assert envelopes == ["Error"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/redoc/", "/developers/api/redoc/"])
def test_redoc_loads_no_third_party_fonts(client, url):
    page = client.get(url).content.decode()
    assert "Redoc" in page or "redoc" in page
    assert "googleapis" not in page and "gstatic" not in page
