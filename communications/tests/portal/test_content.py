"""Facts stated on the portal hold in the code."""

import pytest
from django.conf import settings

from communications.portal import content
from communications.services.providers import configuration_validate
from communications.tests.factories import integration_create


def test_configuration_example_in_the_guide_is_accepted():
    example = content.configuration_example()
    cleaned = configuration_validate(data=example)
    assert set(cleaned["endpoints"]) == set(example["endpoints"])


@pytest.mark.django_db
def test_documented_error_codes_are_what_the_api_answers(api_client):
    provider = integration_create()
    api = provider.client
    answers = {
        "not_authenticated": api_client.post("/api/v1/messages", {}, format="json"),
        "token_malformed": api_client.get("/api/v1/webhooks", HTTP_AUTHORIZATION="Bearer a b"),
        "token_invalid": api_client.get("/api/v1/webhooks", HTTP_AUTHORIZATION="Bearer nonsense"),
        "validation_error": api.post("/api/v1/messages", {"id": "m-1"}, format="json"),
        "parse_error": api.generic("POST", "/api/v1/messages", "{not json", content_type="application/json"),
        "unsupported_media_type": api.generic("POST", "/api/v1/messages", "a=1", content_type="text/plain"),
        "not_found": api.patch("/api/v1/chats/nope", {"title": "x"}, format="json"),
        "method_not_allowed": api.get("/api/v1/messages"),
    }
    documented = {error.code: error.status for error in content.ERROR_CODES}
    for code, response in answers.items():
        assert response.status_code == documented[code], code
        assert response.json()["error"]["code"] == code


def test_limits_page_shows_the_configured_rate(client):
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["principal"]
    assert rate in client.get("/developers/reference/limits/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Token abc.def.ghi", "Basic dXNlcjpwYXNz", "bearer", "JWT x"])
def test_another_authorization_scheme_is_token_malformed_not_not_authenticated(api_client, header):
    response = api_client.get("/api/v1/webhooks", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_malformed"


@pytest.mark.django_db
def test_every_public_api_error_code_is_in_the_error_table(api_client):
    """Issue 16 item 8: unknown_channel, id_conflict and stale_update are answered and documented."""
    api = integration_create().client
    api.post("/api/v1/messages", {"id": "m-1", "chat": {"id": "c-1"}, "text": "a"}, format="json")
    answers = {
        "unknown_channel": api.post("/api/v1/chats", {"id": "c-2", "channelId": "nope"}, format="json"),
        "id_conflict": api.post("/api/v1/messages", {"id": "m-1", "chat": {"id": "c-1"}, "text": "b"},
                                format="json"),
    }
    api.patch("/api/v1/messages/m-1", {"text": "c", "changedAt": "2026-11-20T10:00:02Z"}, format="json")
    answers["stale_update"] = api.patch("/api/v1/messages/m-1", {"text": "d", "changedAt": "2026-11-20T10:00:01Z"},
                                        format="json")
    documented = {error.code: error.status for error in content.ERROR_CODES}
    for code, response in answers.items():
        assert code in documented, code
        assert (response.status_code, response.json()["error"]["code"]) == (documented[code], code)


def test_signing_overlap_is_stated_from_the_constant_not_hard_coded(client):
    """Issue 16 item 11: the guide and the admin take the overlap from SIGNING_SECRET_OVERLAP, and the
    number of signatures during rotations is stated as it really is (one per valid secret)."""
    from datetime import timedelta
    from pathlib import Path

    from communications.services.deliveries import SIGNING_SECRET_OVERLAP

    hours = SIGNING_SECRET_OVERLAP // timedelta(hours=1)
    root = Path(__file__).resolve().parents[3]
    for source in ("templates/developers/guide.html", "communications/admin/deliveries.py"):
        assert "ещё 24 час" not in (root / source).read_text(encoding="utf-8"), source
    assert content.SIGNING_OVERLAP_HOURS == hours
    signature = dict(content.CALL_HEADERS)["webhook-signature"]
    assert "по одной на каждый действующий секрет" in signature
    guide = client.get("/developers/guide/").content.decode()
    assert f"ещё {hours} ч" in guide
