"""Bindings, their history, one-time binding tokens and the links endpoint (the bots' building blocks)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.testing.concurrency import at_once
from notifications.errors import BindingTokenInvalid
from notifications.models import BindingToken, ServiceBinding, ServiceBindingHistory
from notifications.services import (
    binding_token_consume,
    binding_token_issue,
    service_binding_deactivate,
    service_binding_set,
)


def history(recipient):
    return list(ServiceBindingHistory.objects.filter(recipient=recipient).order_by("id")
                .values_list("service", "old_service_user_id", "new_service_user_id"))


def test_repeated_binding_overwrites_service_user_id_and_writes_history(make_recipient):
    recipient = make_recipient("user")
    service_binding_set(recipient=recipient, service="telegram", service_user_id=111)
    service_binding_set(recipient=recipient, service="telegram", service_user_id=222)
    service_binding_set(recipient=recipient, service="telegram", service_user_id=222)  # no change
    assert ServiceBinding.objects.get(recipient=recipient).service_user_id == "222"
    assert history(recipient) == [("telegram", "", "111"), ("telegram", "111", "222")]


def test_account_moves_from_its_previous_owner(make_recipient):
    alice, bob = make_recipient("user"), make_recipient("user")
    service_binding_set(recipient=alice, service="vk", service_user_id="77")
    service_binding_set(recipient=bob, service="vk", service_user_id="77")
    assert not ServiceBinding.objects.filter(recipient=alice).exists()
    assert history(alice) == [("vk", "", "77"), ("vk", "77", "")]
    assert ServiceBinding.objects.get(service="vk", service_user_id="77").recipient == bob


def test_rebinding_reactivates_a_blocked_binding(make_recipient):
    recipient = make_recipient("user")
    service_binding_set(recipient=recipient, service="telegram", service_user_id="5")
    assert service_binding_deactivate(service="telegram", service_user_id="5", reason="kicked")
    assert not ServiceBinding.objects.get(recipient=recipient).is_active
    service_binding_set(recipient=recipient, service="telegram", service_user_id="5")
    assert ServiceBinding.objects.get(recipient=recipient).is_active


def test_binding_token_is_single_use(make_recipient):
    recipient = make_recipient("user")
    token = binding_token_issue(recipient=recipient)
    binding = binding_token_consume(token=token.token, service="telegram", service_user_id=42)
    assert binding.recipient == recipient and binding.service_user_id == "42"
    with pytest.raises(BindingTokenInvalid) as same:
        binding_token_consume(token=token.token, service="telegram", service_user_id=42)
    assert same.value.reason == "used" and same.value.same_account is True
    with pytest.raises(BindingTokenInvalid) as other:
        binding_token_consume(token=token.token, service="telegram", service_user_id=99)
    assert other.value.reason == "used" and other.value.same_account is False
    assert ServiceBinding.objects.get(recipient=recipient).service_user_id == "42"


@pytest.mark.parametrize("value", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_binding_token_binds_nothing(db, value):
    with pytest.raises(BindingTokenInvalid) as exc:
        binding_token_consume(token=value, service="telegram", service_user_id=1)
    assert exc.value.reason == "unknown"
    assert not ServiceBinding.objects.exists()


def test_expired_binding_token_binds_nothing(make_recipient):
    token = binding_token_issue(recipient=make_recipient("user"))
    BindingToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(BindingTokenInvalid) as exc:
        binding_token_consume(token=token.token, service="vk", service_user_id=1)
    assert exc.value.reason == "expired"
    assert not ServiceBinding.objects.exists()


def test_binding_token_ttl_comes_from_settings(make_recipient, settings):
    settings.NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES = 5
    token = binding_token_issue(recipient=make_recipient("user"))
    assert timedelta(minutes=4) < token.expires_at - timezone.now() <= timedelta(minutes=5)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_confirms_give_one_binding_and_one_history_row(make_recipient):
    recipient = make_recipient("user")
    token = binding_token_issue(recipient=recipient)

    def confirm():
        try:
            binding_token_consume(token=token.token, service="telegram", service_user_id=42)
            return "bound"
        except BindingTokenInvalid as exc:
            return exc.reason

    assert sorted(at_once(confirm, confirm)) == ["bound", "used"]
    assert ServiceBinding.objects.filter(recipient=recipient).count() == 1
    assert len(history(recipient)) == 1


def test_binding_links_endpoint_returns_one_time_token_links(make_recipient, notifications_service_client, settings):
    settings.TELEGRAM_BOT_NAME, settings.VK_BOT_NAME = "CrmBot", "crm_group"
    recipient = make_recipient("user")
    response = notifications_service_client.post(f"/notifications/recipients/{recipient.pk}/binding-links")
    assert response.status_code == 201
    data = response.json()
    token = BindingToken.objects.get(recipient=recipient)
    assert data["token"] == str(token.token) != str(recipient.pk)
    assert data["telegram"] == f"https://t.me/CrmBot?start={token.token}"
    assert data["vk"] == f"https://vk.com/crm_group?act=subscribe&user_id={token.token}"
    assert data["vk_me"] == f"https://vk.me/crm_group?ref={token.token}"
    assert str(recipient.pk) not in str(data)


def test_binding_links_for_user_token_only_for_itself(make_recipient, api_client):
    from notifications.auth import RecipientToken

    alice, bob = make_recipient("user"), make_recipient("user")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RecipientToken.for_recipient(alice)}")
    assert api_client.post(f"/notifications/recipients/{alice.pk}/binding-links").status_code == 201
    assert api_client.post(f"/notifications/recipients/{bob.pk}/binding-links").status_code == 403
    assert not BindingToken.objects.filter(recipient=bob).exists()


def test_binding_links_without_bot_names_are_null(make_recipient, notifications_service_client, settings):
    settings.TELEGRAM_BOT_NAME = settings.VK_BOT_NAME = ""
    recipient = make_recipient("user")
    data = notifications_service_client.post(f"/notifications/recipients/{recipient.pk}/binding-links").json()
    assert data["telegram"] is None and data["vk"] is None and data["vk_me"] is None
