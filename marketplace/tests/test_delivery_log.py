"""The developer's delivery log: own calls only, filters, masked headers, retry and cancel through the engine."""

import uuid

import pytest

from communications.models import Delivery, ProviderConfiguration, TenantConfiguration
from communications.services import deliveries
from communications.tests.factories import TenantConfigurationFactory
from marketplace import services
from marketplace.tests.factories import API, SECRET_KEY, configuration

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_on_commit(commit):
    return commit


@pytest.fixture
def acme(developer, version, fake):
    response = developer.post(f"{API}/provider-configurations", configuration(endpoints=fake.endpoints()),
                              format="json")
    assert response.status_code == 201, response.json()
    return version


def _tenant(code: str, tenant_id) -> TenantConfiguration:
    configuration = ProviderConfiguration.objects.filter(provider__code=code).latest("id")
    return TenantConfigurationFactory(tenant_id=tenant_id, provider=configuration.provider,
                                      configuration=configuration)


def _call(run_on_commit, tenant: TenantConfiguration, endpoint="sendMessage") -> Delivery:
    delivery = run_on_commit(lambda: deliveries.delivery_enqueue(
        tenant_configuration=tenant, endpoint=endpoint, payload={"tenantId": str(tenant.tenant_id), "text": "привет"}))
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def calls(acme, developer, fake, run_on_commit):
    """One refused production call (400) and one delivered sandbox call."""
    sandbox = developer.user.provider_companies.get().sandbox_tenant_id
    fake.fail_next(1, status=400, body={"error": "bad chat"})
    refused = _call(run_on_commit, _tenant("acme", uuid.uuid4()))
    delivered = _call(run_on_commit, _tenant("acme", sandbox), endpoint="markChatRead")
    assert (refused.status, delivered.status) == ("refused", "delivered")
    return {"refused": refused, "delivered": delivered, "sandbox": sandbox}


def test_log_lists_own_calls_with_attempts_and_masked_headers(developer, calls):
    # when
    response = developer.get(f"{API}/deliveries")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and [row["id"] for row in body["results"]] == [calls["delivered"].pk,
                                                                           calls["refused"].pk]
    refused = body["results"][1]
    assert (refused["environment"], refused["status"], refused["responseStatus"]) == ("production", "refused", 400)
    assert refused["canRetry"] and not refused["canCancel"]
    attempt = refused["attempts"][0]
    assert attempt["statusCode"] == 400 and attempt["durationMs"] is not None and attempt["outcome"] == "refused"
    assert "bad chat" in refused["responseExcerpt"]
    headers = refused["requestHeaders"]
    assert headers["X-Api-Key"] == "****" + SECRET_KEY[-4:] and headers["webhook-signature"] == "v1,****"
    assert SECRET_KEY not in response.content.decode()
    assert body["results"][0]["environment"] == "sandbox"


@pytest.mark.parametrize(("query", "expected"), [
    ("tenant=sandbox", ["delivered"]), ("tenant=production", ["refused"]), ("status=refused", ["refused"]),
    ("endpoint=markChatRead", ["delivered"]), ("app=acme", ["delivered", "refused"]),
    ("since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z", []), ("page_size=1", ["delivered"]),
])
def test_log_filters(developer, calls, query, expected):
    response = developer.get(f"{API}/deliveries?{query}")
    assert response.status_code == 200, response.json()
    assert [row["id"] for row in response.json()["results"]] == [calls[name].pk for name in expected]


def test_log_filter_by_tenant_id_and_bad_filters(developer, calls):
    by_id = developer.get(f"{API}/deliveries?tenant={calls['sandbox']}")
    assert [row["id"] for row in by_id.json()["results"]] == [calls["delivered"].pk]
    bad = developer.get(f"{API}/deliveries?tenant=nowhere&status=lost")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"tenant", "status"}
    blank = developer.get(f"{API}/deliveries?app=&endpoint=")  # the schema's minLength 1 holds
    assert blank.status_code == 400 and set(blank.json()["error"]["fields"]) == {"app", "endpoint"}


def test_developer_retries_a_refused_call_and_it_is_delivered(developer, calls, fake, run_on_commit):
    # when
    response = run_on_commit(lambda: developer.post(f"{API}/deliveries/{calls['refused'].pk}/retry"))
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"  # the answer is written before the engine sends
    delivered = developer.get(f"{API}/deliveries/{calls['refused'].pk}").json()
    assert delivered["status"] == "delivered" and [a["statusCode"] for a in delivered["attempts"]] == [400, 200]
    assert len(fake.accepted_list("sendMessage")) == 1
    again = developer.post(f"{API}/deliveries/{calls['refused'].pk}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "delivery_not_dead"


def test_developer_cancels_a_pending_call(developer, acme, fake, run_on_commit):
    fake.fail_next(1, status=503)
    pending = _call(run_on_commit, _tenant("acme", uuid.uuid4()))
    assert pending.status == "pending" and pending.attempts == 1
    response = developer.post(f"{API}/deliveries/{pending.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Delivery.objects.get(pk=pending.pk).last_error == "отменена разработчиком"


def test_another_company_gets_404_and_an_empty_log(other_developer, calls):
    rival_app = services.application_create(company=other_developer.user.provider_companies.get(), code="rival",
                                            name="Rival", actor=other_developer.user)
    assert rival_app.code == "rival"
    refused = calls["refused"].pk
    assert other_developer.get(f"{API}/deliveries").json()["results"] == []
    assert other_developer.get(f"{API}/deliveries?app=acme").status_code == 404
    assert other_developer.get(f"{API}/deliveries/{refused}").status_code == 404
    retry = other_developer.post(f"{API}/deliveries/{refused}/retry")
    cancel = other_developer.post(f"{API}/deliveries/{refused}/cancel")
    assert retry.status_code == 404 and cancel.status_code == 404
    assert retry.json()["error"]["code"] == "delivery_not_found"
    assert Delivery.objects.get(pk=refused).status == "refused"


def test_delivery_log_needs_a_developer(api_client, marketplace_client, calls):
    assert api_client.get(f"{API}/deliveries").status_code == 401
    assert marketplace_client.get(f"{API}/deliveries").status_code == 403
