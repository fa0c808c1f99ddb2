"""A password change, deactivation or removal from a group ends the user's JWTs at once.

Tokens carry a token-version claim; the per-request user lookup checks it against the database,
and each of those changes moves the version on. The tokens stay dead after the change is undone."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from config.management.commands.create_service_account import service_account_ensure

PASSWORD = "s3cret-pass-123"
# Any CRM-only endpoint: 401 = token refused, 404 = authenticated (no such provider) and allowed.
PROBE = "/internal/v1/operator/chats?tenantId=00000000-0000-0000-0000-000000000001&providerCode=none"


@pytest.fixture
def account(db):
    return service_account_ensure(username="svc-crm-revoke", role="crm", password=PASSWORD)


def login(client: APIClient, password: str = PASSWORD) -> dict:
    response = client.post("/api/auth/token/", {"username": "svc-crm-revoke", "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def probe(client: APIClient, tokens: dict) -> int:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    status = client.get(PROBE).status_code
    client.credentials()
    return status


def refresh(client: APIClient, tokens: dict):
    return client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")


def test_password_change_ends_access_and_refresh_tokens_at_once(account, api_client):
    # given
    tokens = login(api_client)
    assert probe(api_client, tokens) == 404
    # when
    account.set_password("an0ther-pass-456")
    account.save()
    # then: the old access token is refused, and its refresh token gives no new one
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    answer = api_client.get(PROBE)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "token_revoked"
    api_client.credentials()
    refused = refresh(api_client, tokens)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    # and a fresh login works
    assert probe(api_client, login(api_client, "an0ther-pass-456")) == 404


def test_deactivation_ends_tokens_even_after_reactivation(account, api_client):
    # given
    tokens = login(api_client)
    # when: deactivated, then active again
    account.is_active = False
    account.save()
    assert probe(api_client, tokens) == 401
    account.is_active = True
    account.save()
    # then: the tokens from before stay dead; a new login works
    assert probe(api_client, tokens) == 401
    assert refresh(api_client, tokens).status_code == 401
    assert probe(api_client, login(api_client)) == 404


@pytest.mark.parametrize("removal", ["user.groups.remove", "group.user_set.remove", "user.groups.clear",
                                     "group.user_set.clear", "user.groups.set", "group deleted"])
def test_removal_from_a_group_ends_tokens_even_after_readding(removal, account, api_client):
    # given: the account is in its service group and a second, unrelated one
    group, other = Group.objects.get(name="service:crm"), Group.objects.create(name="reports")
    account.groups.add(other)
    tokens = login(api_client)
    # when
    {"user.groups.remove": lambda: account.groups.remove(other),
     "group.user_set.remove": lambda: other.user_set.remove(account),
     "user.groups.clear": lambda: account.groups.clear(),
     "group.user_set.clear": lambda: other.user_set.clear(),
     "user.groups.set": lambda: account.groups.set([group]),
     "group deleted": lambda: other.delete()}[removal]()
    account.groups.add(group)
    # then
    assert probe(api_client, tokens) == 401
    assert probe(api_client, login(api_client)) == 404


def test_other_changes_keep_tokens(account, api_client):
    # given
    tokens = login(api_client)
    # when: a name change, a new group, a save without changes, the service account ensured with its password
    account.first_name = "Сервис"
    account.save()
    account.groups.add(Group.objects.create(name="extra"))
    account.save()
    service_account_ensure(username="svc-crm-revoke", role="crm", password=PASSWORD)
    # then
    assert probe(api_client, tokens) == 404
    assert refresh(api_client, tokens).status_code == 200


def test_the_check_rides_on_the_existing_user_query(account, api_client, django_assert_num_queries):
    from rest_framework.test import APIRequestFactory

    from config.auth import VersionedJWTAuthentication

    # given
    tokens = login(api_client)
    account.set_password("an0ther-pass-456")
    account.save()
    fresh = login(api_client, "an0ther-pass-456")
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    # when / then: one query finds the user and its token version
    with django_assert_num_queries(1):
        user, _ = VersionedJWTAuthentication().authenticate(request)
    assert user == account
    assert tokens["access"] != fresh["access"]


# An access token's signature and claims are checked once per process (issue 19); what changes with time or
# with the database is still checked on every request.
def test_a_token_seen_before_still_expires(account, api_client):
    import time_machine
    from django.utils import timezone

    # given: the token was accepted (and kept as checked)
    tokens = login(api_client)
    assert probe(api_client, tokens) == 404
    # when: its lifetime (15 minutes) is over
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        answer = api_client.get(PROBE)
    # then
    assert answer.status_code == 401
    assert probe(api_client, tokens) == 404  # and before that moment it still is valid


def test_a_token_seen_before_is_revoked_at_once(account, api_client):
    tokens = login(api_client)
    assert probe(api_client, tokens) == 404 and probe(api_client, tokens) == 404  # checked, then kept
    account.is_active = False
    account.save()
    assert probe(api_client, tokens) == 401
