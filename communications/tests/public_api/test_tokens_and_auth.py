from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from communications.authentication import IntegrationTokenAuthentication
from communications.models import Account, IntegrationToken, TenantConfiguration
from communications.services.tokens import integration_token_deactivate, integration_token_encode
from communications.tests.factories import ProviderFactory, TenantConfigurationFactory, integration_create

pytestmark = pytest.mark.django_db


def _bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def _assert_401(response, code: str):
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- issuing through the CRM internal endpoint -------------------------------------------------

def test_crm_issues_token_shown_once_and_activates_main_account(crm_client):
    # given
    provider = ProviderFactory()
    tenant = TenantConfigurationFactory(provider=provider).tenant_id
    # when
    response = crm_client.post("/internal/v1/integration-tokens",
                               {"tenantId": str(tenant), "providerCode": provider.code}, format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    value = body["token"]
    claims = jwt.decode(value, settings.COMMUNICATIONS_TOKEN_SIGNING_KEY, algorithms=["HS256"],
                        audience="sbercrm-communications-public-api")
    assert claims["tenant"] == str(tenant) and claims["provider"] == provider.code and claims["jti"] == body["id"]
    token = IntegrationToken.objects.get(jti=body["id"])
    assert token.status == "active"
    # the value is stored nowhere: no column of the token row holds it
    assert all(value not in str(getattr(token, f.attname)) for f in IntegrationToken._meta.fields)
    main = Account.objects.get(tenant_id=tenant, provider=provider, kind="main")
    assert main.is_active
    # and the listing shows statuses, never the value
    listed = crm_client.get(f"/internal/v1/integration-tokens?tenantId={tenant}").json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0]
    # and it works on the public API
    assert _bearer(value).post("/api/v1/chats", {"id": "c"}, format="json").status_code == 201


def test_reissue_replaces_previous_token_and_keeps_one_main_account(crm_client):
    # given
    first = integration_create()
    payload = {"tenantId": str(first.tenant_id), "providerCode": first.provider.code}
    # when
    second = crm_client.post("/internal/v1/integration-tokens", payload, format="json").json()
    # then
    first.token.refresh_from_db()
    assert first.token.status == "replaced"
    _assert_401(first.client.post("/api/v1/chats", {"id": "c"}, format="json"), "token_inactive")
    assert _bearer(second["token"]).post("/api/v1/chats", {"id": "c"}, format="json").status_code == 201
    assert Account.objects.filter(tenant_id=first.tenant_id, kind="main").count() == 1


def test_issue_without_tenant_configuration_is_409(crm_client):
    provider = ProviderFactory()
    response = crm_client.post("/internal/v1/integration-tokens",
                               {"tenantId": "0b7f6a1e-9a51-4d4e-9d5e-2c1f3a4b5c6d", "providerCode": provider.code},
                               format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tenant_not_configured"
    assert not IntegrationToken.objects.exists()


def test_issue_for_unknown_provider_is_404_naming_field(crm_client):
    response = crm_client.post("/internal/v1/integration-tokens",
                               {"tenantId": "0b7f6a1e-9a51-4d4e-9d5e-2c1f3a4b5c6d", "providerCode": "nope"},
                               format="json")
    assert response.status_code == 404
    assert "providerCode" in response.json()["error"]["fields"]


def test_issue_validation_errors_name_fields(crm_client):
    response = crm_client.post("/internal/v1/integration-tokens", {"tenantId": "x", "lifetimeDays": 0}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"tenantId", "providerCode", "lifetimeDays"}


def test_token_endpoints_require_crm_service(marketplace_client, integration):
    assert marketplace_client.post("/internal/v1/integration-tokens", {}, format="json").status_code == 403
    url = f"/internal/v1/integration-tokens/{integration.token.jti}/deactivate"
    assert marketplace_client.post(url).status_code == 403
    # the integration token itself is no service credential
    assert integration.client.post(url).status_code == 401
    integration.token.refresh_from_db()
    assert integration.token.status == "active"


def test_crm_deactivates_token_and_next_request_is_401(crm_client, integration):
    # given
    assert integration.client.post("/api/v1/chats", {"id": "c"}, format="json").status_code == 201
    # when
    response = crm_client.post(f"/internal/v1/integration-tokens/{integration.token.jti}/deactivate")
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "deactivated" and response.json()["deactivatedAt"]
    _assert_401(integration.client.post("/api/v1/chats", {"id": "d"}, format="json"), "token_inactive")
    # deactivating again is idempotent
    assert crm_client.post(f"/internal/v1/integration-tokens/{integration.token.jti}/deactivate").status_code == 200


def test_deactivate_unknown_token_is_404(crm_client):
    assert crm_client.post("/internal/v1/integration-tokens/not-a-uuid/deactivate").status_code == 404


# --- what the public API rejects ----------------------------------------------------------------

def test_missing_header_is_401(api_client):
    response = api_client.post("/api/v1/messages", {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("value", ["garbage", "a.b.c", "Bearer"])
def test_malformed_token_is_401(db, value):
    response = _bearer(value).post("/api/v1/messages", {}, format="json")
    assert response.status_code == 401


def test_token_signed_with_another_key_is_401(integration):
    claims = jwt.decode(integration.value, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-that-is-long-enough-for-hs256-use", algorithm="HS256")
    _assert_401(_bearer(forged).post("/api/v1/chats", {"id": "c"}, format="json"), "token_invalid")


def test_claims_must_match_the_stored_token(integration, other_tenant):
    claims = jwt.decode(integration.value, options={"verify_signature": False})
    claims["tenant"] = str(other_tenant.tenant_id)  # a validly signed token naming another tenant
    forged = jwt.encode(claims, settings.COMMUNICATIONS_TOKEN_SIGNING_KEY, algorithm="HS256")
    _assert_401(_bearer(forged).post("/api/v1/chats", {"id": "c"}, format="json"), "token_invalid")


def test_service_jwt_is_not_accepted_by_public_api(crm_client):
    response = crm_client.post("/api/v1/chats", {"id": "c"}, format="json")
    assert response.status_code == 401


def test_expired_token_is_401(integration):
    # given: a token whose JWT has expired
    integration.token.expires_at = timezone.now() - timedelta(seconds=1)
    integration.token.save()
    expired_value = integration_token_encode(token=integration.token)
    # then: both the expired JWT and the still-unexpired JWT of a token expired in the DB are refused
    _assert_401(_bearer(expired_value).post("/api/v1/chats", {"id": "c"}, format="json"), "token_expired")
    _assert_401(integration.client.post("/api/v1/chats", {"id": "c"}, format="json"), "token_expired")


def test_deactivated_token_is_401(integration):
    integration_token_deactivate(token=integration.token)
    _assert_401(integration.client.get("/api/v1/webhooks"), "token_inactive")


def test_tenant_configuration_disabled_is_401(integration):
    TenantConfiguration.objects.filter(tenant_id=integration.tenant_id).update(status="disabled")
    _assert_401(integration.client.get("/api/v1/webhooks"), "integration_disabled")


def test_inactive_provider_is_401(integration):
    integration.provider.is_active = False
    integration.provider.save()
    _assert_401(integration.client.get("/api/v1/webhooks"), "provider_inactive")


def test_authentication_exposes_scope_and_throttle_key(integration, rf):
    request = rf.get("/api/v1/webhooks", HTTP_AUTHORIZATION=f"Bearer {integration.value}")
    user, auth = IntegrationTokenAuthentication().authenticate(request)
    assert user.tenant_id == integration.tenant_id and user.provider == integration.provider
    assert user.is_authenticated
    assert auth.throttle_key == f"integration-token:{integration.token.jti}"


def test_the_usable_token_rule_reads_the_same_in_the_orm_and_in_sql(integration):
    """`IntegrationToken.usable` and `USABLE_SQL` (the operator send's one statement) pick the same tokens."""
    from django.db import connection

    now = timezone.now()
    token = IntegrationToken.objects.get(tenant_id=integration.tenant_id)
    others = [integration_create(provider=integration.provider) for _ in range(3)]
    expired, forever, deactivated = (IntegrationToken.objects.get(tenant_id=other.tenant_id) for other in others)
    IntegrationToken.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(seconds=1))
    IntegrationToken.objects.filter(pk=forever.pk).update(expires_at=None)
    integration_token_deactivate(token=deactivated)
    table = connection.ops.quote_name(IntegrationToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t.id FROM {table} t WHERE {IntegrationToken.USABLE_SQL.format(t='t')}",  # noqa: S608
                       [IntegrationToken._meta.get_field("expires_at").get_db_prep_value(now, connection)])
        by_sql = {row[0] for row in cursor.fetchall()}
    by_orm = set(IntegrationToken.objects.filter(IntegrationToken.usable(now)).values_list("pk", flat=True))
    assert by_sql == by_orm == {token.pk, forever.pk}
