"""Developer self-service sign-up: confirmation by email, expiry and reuse, throttling, blocking a company."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import ProviderCompany, SignupConfirmation
from marketplace.services import signup
from marketplace.tests.factories import API, ProviderCompanyFactory

pytestmark = pytest.mark.django_db
PASSWORD = "Kx7-long-enough-pass"


def _signup(client=None, email="Dev@Example.com", company="Nova Chat", password=PASSWORD):
    client = client or APIClient()
    return client.post(f"{API}/signup", {"email": email, "password": password, "companyName": company},
                       format="json")


def _link(smtp) -> str:
    body = smtp.messages[-1].get_body(("plain",)).get_content()
    return re.search(r"https?://\S+", body).group(0)


def _token(smtp) -> str:
    return _link(smtp).split("token=", 1)[1]


def _login(email=" dev@example.com".strip(), password=PASSWORD):
    return APIClient().post("/api/auth/token/", {"username": email, "password": password}, format="json")


def test_signup_creates_inactive_user_and_company_with_sandbox_and_emails_the_link(smtp):
    # when
    response = _signup()
    # then
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "dev@example.com" and response.json()["confirmationSent"] is True
    user = get_user_model().objects.get(username="dev@example.com")
    company = ProviderCompany.objects.get(name="Nova Chat")
    assert not user.is_active and list(company.members.all()) == [user]
    assert company.self_signed_up and company.sandbox_tenant_id is not None
    assert smtp.envelopes[-1].rcpt_tos == ["dev@example.com"]
    assert "/developers/signup/confirm/?token=" in _link(smtp)
    assert PASSWORD not in smtp.messages[-1].as_string()
    assert _login().status_code == 401  # not confirmed yet


def test_confirmation_activates_the_account_once(smtp):
    _signup()
    token = _token(smtp)
    # when
    confirmed = APIClient().post(f"{API}/signup/confirm", {"token": token}, format="json")
    reused = APIClient().post(f"{API}/signup/confirm", {"token": token}, format="json")
    # then
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["sandboxTenantId"] == str(ProviderCompany.objects.get().sandbox_tenant_id)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "token_used"
    login = _login()
    assert login.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert client.get(f"{API}/apps").status_code == 200


def test_expired_confirmation_is_refused_and_frees_the_email(smtp):
    _signup()
    token = _token(smtp)
    SignupConfirmation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    # when
    expired = APIClient().post(f"{API}/signup/confirm", {"token": token}, format="json")
    # then
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "token_expired"
    assert "token" in expired.json()["error"]["fields"]
    assert not get_user_model().objects.get(username="dev@example.com").is_active
    # the stale sign-up does not hold the address or the company name
    again = _signup()
    assert again.status_code == 201, again.json()
    assert get_user_model().objects.filter(username="dev@example.com").count() == 1


def test_unknown_token_is_a_field_error():
    response = APIClient().post(f"{API}/signup/confirm", {"token": "nope"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "token_invalid"


def test_malformed_input_gets_field_errors(smtp):
    response = APIClient().post(f"{API}/signup", {"email": "not-an-email", "password": "123"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "password", "companyName"}
    assert not get_user_model().objects.exists() and not smtp.messages


def test_taken_email_and_company_name_are_conflicts(smtp):
    _signup()
    email = _signup(company="Other")
    company = _signup(email="other@example.com", company="nova chat")
    assert email.status_code == 409 and "email" in email.json()["error"]["fields"]
    assert company.status_code == 409 and "companyName" in company.json()["error"]["fields"]


def test_email_failure_keeps_nothing(smtp):
    smtp.rejected.add("dev@example.com")
    response = _signup()
    assert response.status_code == 503 and response.json()["error"]["code"] == "email_unavailable"
    assert not get_user_model().objects.exists() and not ProviderCompany.objects.exists()


@pytest.fixture
def rates(settings):
    def set_rates(**overrides):
        framework = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {**framework, "DEFAULT_THROTTLE_RATES": {
            **framework["DEFAULT_THROTTLE_RATES"], **overrides}}
    return set_rates


def test_signup_is_throttled_per_email(smtp, rates):
    rates(signup_email="2/hour", signup="100/hour")
    # when
    codes = [_signup(company=f"C{i}").status_code for i in range(3)]
    other = _signup(email="other@example.com", company="Other")
    # then
    assert codes == [201, 409, 429]
    assert other.status_code == 201


def test_signup_is_throttled_per_client_address(smtp, rates):
    rates(signup="2/hour")
    # when
    responses = [_signup(email=f"d{i}@example.com", company=f"C{i}") for i in range(3)]
    # then
    assert [r.status_code for r in responses] == [201, 201, 429]
    assert responses[-1].json()["error"]["code"] == "throttled" and "Retry-After" in responses[-1]
    assert not get_user_model().objects.filter(username="d2@example.com").exists()


def test_portal_signup_form_is_throttled_too(smtp, rates, client):
    rates(signup="1/hour")
    client.post("/developers/signup/", {"email": "a@example.com", "password": PASSWORD, "companyName": "A"})
    second = client.post("/developers/signup/", {"email": "b@example.com", "password": PASSWORD,
                                                 "companyName": "B"})
    assert second.status_code == 429 and not get_user_model().objects.filter(username="b@example.com").exists()


def test_blocked_company_jwt_gets_401_on_the_next_request(developer):
    assert developer.get(f"{API}/apps").status_code == 200
    company = developer.user.provider_companies.get()
    # when
    signup.company_block(company=company)
    # then
    response = developer.get(f"{API}/apps")
    assert response.status_code == 401
    login = _login(email="dev", password="pass-12345-word")
    assert login.status_code == 401 and login.json()["error"]["code"] == "company_blocked"


def test_portal_signup_and_confirm_pages(smtp, client):
    page = client.get("/developers/signup/")
    assert page.status_code == 200 and "Регистрация разработчика" in page.content.decode()
    bad = client.post("/developers/signup/", {"email": "x", "password": "1", "companyName": ""})
    assert bad.status_code == 400 and 'data-field="email"' in bad.content.decode()
    done = client.post("/developers/signup/", {"email": "web@example.com", "password": PASSWORD,
                                               "companyName": "Web Co"})
    assert done.status_code == 200 and "web@example.com" in done.content.decode()
    link = _link(smtp)
    shown = client.get(link)  # a link scanner's GET spends nothing
    assert shown.status_code == 200 and not get_user_model().objects.get(username="web@example.com").is_active
    confirmed = client.post("/developers/signup/confirm/", {"token": link.split("token=", 1)[1]})
    assert confirmed.status_code == 200 and "подтверждён" in confirmed.content.decode()
    assert get_user_model().objects.get(username="web@example.com").is_active


def test_member_of_another_company_keeps_access_but_not_to_the_blocked_apps(developer, app):
    other = ProviderCompanyFactory(name="Second LLC")
    other.members.add(developer.user)
    signup.company_block(company=developer.user.provider_companies.get(name="Acme LLC"))
    login = _login(email="dev", password="pass-12345-word")
    assert login.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert client.get(f"{API}/apps").json() == []
    assert client.get(f"{API}/apps/acme").status_code == 404
