"""The Russian admin answers "why did this provider call fail?"."""

import pytest

from communications.models import Delivery, ProviderSigningSecret
from communications.services import deliveries as svc
from communications.tests.factories import make_tenant_configuration
from delivery import engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_and_delivered(fast_retries, fake_provider, tenant_configuration):
    fake_provider.fail_next(1, status=403, body={"error": "api key revoked"})
    dead = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="sendMessage", payload={"t": 1})
    engine.delivery_send(delivery_id=dead.pk)
    ok = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead", payload={"c": 1})
    engine.delivery_send(delivery_id=ok.pk)
    return dead, ok


def test_delivery_log_filters_by_status_provider_tenant_and_endpoint(admin_client, failed_and_delivered,
                                                                     fake_provider, tenant_configuration):
    dead, ok = failed_and_delivered
    other = make_tenant_configuration(fake_provider)
    foreign = svc.delivery_enqueue(tenant_configuration=other, endpoint="sendMessage", payload={})
    url = "/admin/communications/delivery/"

    def listed(query):
        response = admin_client.get(url + query)
        assert response.status_code == 200
        return {pk for pk in (dead.pk, ok.pk, foreign.pk) if f"#{pk}<" in response.content.decode()}

    assert listed("") == {dead.pk, ok.pk, foreign.pk}
    assert listed("?status__exact=refused") == {dead.pk}  # a 403 is a refusal (issue 15)
    assert listed(f"?provider__id__exact={other.provider_id}") == {foreign.pk}
    assert listed(f"?tenant_id={tenant_configuration.tenant_id}") == {dead.pk, ok.pk}
    assert listed("?endpoint=markChatRead") == {ok.pk}
    assert "Журнал доставок" in admin_client.get(url).content.decode()


def test_delivery_page_shows_attempts_with_code_latency_and_error(admin_client, failed_and_delivered):
    dead, _ = failed_and_delivered
    page = admin_client.get(f"/admin/communications/delivery/{dead.pk}/change/").content.decode()
    assert "Попытки доставки" in page
    assert "403" in page and "api key revoked" in page and "Время ответа, мс" in page
    assert "signing_secret" not in page


def test_retry_and_cancel_actions_call_the_services(admin_client, failed_and_delivered, fake_provider,
                                                    django_capture_on_commit_callbacks):
    dead, ok = failed_and_delivered
    url = "/admin/communications/delivery/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"action": "retry_deliveries", "_selected_action": [dead.pk, ok.pk]},
                                     follow=True)
    text = response.content.decode()
    assert "Поставлено на повторную отправку: 1" in text and f"#{ok.pk}: Повторить можно только" in text
    dead.refresh_from_db()
    assert dead.status == Delivery.Status.DELIVERED

    pending = svc.delivery_enqueue(tenant_configuration=dead.tenant_configuration, endpoint="sendMessage", payload={})
    admin_client.post(url, {"action": "cancel_deliveries", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.CANCELLED and pending.last_error == "отменена модератором"


def test_provider_health_shows_success_rate_and_last_error(admin_client, failed_and_delivered, tenant_configuration):
    dead, _ = failed_and_delivered
    page = admin_client.get("/admin/communications/providerdeliveryhealth/").content.decode()
    assert "Здоровье провайдеров" in page or "здоровье провайдеров" in page
    assert "50% (1/2)" in page
    assert "api key revoked" in page and f"/admin/communications/delivery/{dead.pk}/change/" in page
    assert tenant_configuration.provider.code in page


def test_provider_health_leaves_developers_sandboxes_out(admin_client, failed_and_delivered, fake_provider,
                                                          tenant_configuration):
    from marketplace.tests.factories import ProviderCompanyFactory

    # given: a developer's sandbox tenant of the same provider, whose calls all fail
    sandbox = make_tenant_configuration(fake_provider, code=tenant_configuration.provider.code + "-x")
    sandbox.provider = tenant_configuration.provider
    sandbox.save(update_fields=["provider"])
    ProviderCompanyFactory(name="Песочница", sandbox_tenant_id=sandbox.tenant_id)
    for n in range(3):
        fake_provider.fail_next(1, status=500, body={"error": f"sandbox failure {n}"})
        call = svc.delivery_enqueue(tenant_configuration=sandbox, endpoint="markChatRead", payload={"n": n})
        engine.delivery_send(delivery_id=call.pk)
    # then: the health figures are the customers' only
    page = admin_client.get("/admin/communications/providerdeliveryhealth/").content.decode()
    assert "50% (1/2)" in page and "sandbox failure" not in page


def test_issuing_a_signing_secret_shows_it_once(admin_client, tenant_configuration):
    provider = tenant_configuration.provider
    response = admin_client.post("/admin/communications/providerdeliveryhealth/",
                                 {"action": "issue_signing_secret", "_selected_action": [provider.pk]}, follow=True)
    secret = ProviderSigningSecret.objects.filter(provider=provider).latest("created_at").secret
    assert secret in response.content.decode()
    listing = admin_client.get("/admin/communications/providersigningsecret/").content.decode()
    assert secret not in listing and f"whsec_****{secret[-4:]}" in listing
