"""The moderators group: just what moderators need, and no secret ever on their pages."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from communications.models import Delivery
from config.moderators import MODERATORS_GROUP, moderator_ensure
from config.tests.world import API_KEY, SIGNING_SECRET, WEBHOOK_SECRET, world_create
from notifications.models import BindingToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db):
    return moderator_ensure(username="moderator")


@pytest.fixture
def moderator_client(client, moderator):
    client.force_login(moderator)
    return client


def test_group_is_created_by_migration_with_view_rights_and_change_only_where_moderators_decide():
    codenames = set(Group.objects.get(name=MODERATORS_GROUP).permissions.values_list("codename", flat=True))
    assert {c for c in codenames if not c.startswith("view_")} == {"change_appversion", "change_delivery"}
    assert {"view_appversion", "view_delivery", "view_recipient", "view_notification", "view_integrationtoken",
            "view_providerconfiguration", "view_providerdeliveryhealth"} <= codenames
    assert not codenames & {"view_providersigningsecret", "view_bindingtoken", "view_user", "view_group",
                            "change_integrationtoken"}


def test_moderator_pages_never_show_api_keys_or_secret_values(moderator_client, moderator):
    # given rows of every model, holding recognisable secrets
    world = world_create()
    binding_token = str(BindingToken.objects.get(recipient=world["recipient"]).token)
    secrets = (API_KEY, WEBHOOK_SECRET, SIGNING_SECRET, binding_token)
    visited = 0
    # when the moderator opens every list and object page they may view
    for model in admin.site._registry:
        opts = model._meta
        if not moderator.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        obj = model._default_manager.first()
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        for url in urls:
            response = moderator_client.get(url)
            assert response.status_code == 200, url
            page = response.content.decode()
            # then
            assert not [secret for secret in secrets if secret in page], url
            visited += 1
    assert visited >= 40  # every registered model but the secret-holding ones
    configuration_page = moderator_client.get(reverse("admin:communications_providerconfiguration_change",
                                                      args=[world["tenant_configuration"].configuration_id]))
    moderation_page = moderator_client.get(reverse("admin:marketplace_appversion_change", args=[world["version"].pk]))
    for response in (configuration_page, moderation_page):
        assert "****" + API_KEY[-4:] in response.content.decode()


@pytest.mark.parametrize("url", [
    "admin:communications_providersigningsecret_changelist",
    "admin:notifications_bindingtoken_changelist",
    "admin:communications_integrationtoken_issue",
    "admin:auth_user_changelist",
])
def test_moderator_cannot_open_pages_that_hold_or_reveal_secrets(moderator_client, url):
    assert moderator_client.get(reverse(url)).status_code == 403


def test_moderator_can_retry_deliveries_but_not_rotate_signing_secrets(moderator_client):
    world = world_create()
    deliveries = moderator_client.get(reverse("admin:communications_delivery_changelist")).content.decode()
    health = moderator_client.get(reverse("admin:communications_providerdeliveryhealth_changelist")).content.decode()
    assert 'value="retry_deliveries"' in deliveries and 'value="cancel_deliveries"' in deliveries
    assert "issue_signing_secret" not in health
    # when
    moderator_client.post(reverse("admin:communications_delivery_changelist"),
                          {"action": "cancel_deliveries", "_selected_action": [world["delivery"].pk]})
    # then
    world["delivery"].refresh_from_db()
    assert world["delivery"].status == Delivery.Status.CANCELLED


def test_moderator_cannot_edit_what_they_only_view(moderator_client):
    world = world_create()
    url = reverse("admin:notifications_recipient_change", args=[world["recipient"].pk])
    response = moderator_client.post(url, {"name": "Взлом", "email": "x@example.com", "role": "admin"})
    assert response.status_code == 403
    world["recipient"].refresh_from_db()
    assert world["recipient"].name != "Взлом"
