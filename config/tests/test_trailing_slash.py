"""Issue 16 item 11: one trailing-slash rule for every API: the canonical path has none, and the same path
with a trailing slash reaches the same view (no redirect, so a POST keeps its body)."""

import pytest

from marketplace.tests.factories import developer_client

pytestmark = pytest.mark.django_db


def test_internal_path_with_a_trailing_slash_reaches_the_same_view(client):
    developer = developer_client("slash", "Slash LLC")
    created = developer.post("/internal/v1/marketplace/apps/", {"code": "slash-app", "name": "Slash"}, format="json")
    assert created.status_code == 201, created.content
    assert developer.get("/internal/v1/marketplace/apps/slash-app/").json()["code"] == "slash-app"


@pytest.mark.parametrize("path", ["/internal/v1/providers/", "/internal/v1/integration-tokens/",
                                  "/notifications/recipients/8f14e45f-ceea-4671-9b8a-3c1d2e5f6a7b/token/"])
def test_trailing_slash_is_not_a_404_anywhere(client, path):
    assert client.post(path, {}, content_type="application/json").status_code in (401, 403)


def test_unknown_paths_stay_404(client):
    assert client.get("/internal/v1/nothing-here/").status_code == 404
