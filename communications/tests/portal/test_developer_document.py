"""Issue 17: the developer (marketplace) API has its own OpenAPI document, Swagger and Redoc pages."""

import pytest

from communications.portal.openapi import schema_generate


def test_developer_document_covers_the_developer_api_and_jwt_only():
    document = schema_generate("developer")
    paths = set(document["paths"])
    for path in ("/internal/v1/marketplace/apps", "/internal/v1/marketplace/apps/{code}/versions/{version}/scopes",
                 "/internal/v1/marketplace/provider-configurations", "/internal/v1/marketplace/apps/{code}/signing-secret",
                 "/internal/v1/marketplace/apps/{code}/versions/{version}/test-runs",
                 "/internal/v1/marketplace/sandbox/installations", "/internal/v1/marketplace/sandbox/operator/messages",
                 "/internal/v1/marketplace/deliveries", "/internal/v1/marketplace/deliveries/{delivery_id}/retry",
                 "/internal/v1/marketplace/signup", "/api/auth/token/", "/api/auth/token/refresh/"):
        assert path in paths, path
    assert "/internal/v1/marketplace/installations" not in paths  # the marketplace service's, not developers'
    assert not any(p.startswith(("/internal/v1/operator", "/internal/v1/tenant-configurations")) for p in paths)
    description = document["info"]["description"]
    assert "15 минут" in description and "/api/auth/token/refresh/" in description


@pytest.mark.django_db
def test_portal_pages_of_the_developer_document(client):
    for url in ("/developers/developer-api/swagger/", "/developers/developer-api/redoc/"):
        page = client.get(url)
        assert page.status_code == 200 and b"/developers/openapi/developer.json" in page.content
    reference = client.get("/developers/developer-api/").content.decode()
    assert "15 мин" in reference and "/api/auth/token/refresh/" in reference
    guide = client.get("/developers/guide/").content.decode()
    assert guide.index('id="step-sandbox"') < guide.index('id="step-test-stand"') < guide.index('id="step-moderation"')
    assert "sandbox/installations" in guide and "не для провайдеров" not in client.get("/developers/").content.decode()
