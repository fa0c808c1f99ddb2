"""One read-only admin base (config.admin.ReadOnlyMixin / ReadOnlyAdmin) for every app: audit rows are seen, never
added or edited by hand; `deletable` keeps deleting where rows are safe to drop."""

import base64

import pytest
from django.contrib import admin
from django.test import RequestFactory

from communications.clients import webhook_secret_generate
from config.admin import ReadOnlyAdmin, ReadOnlyMixin

pytestmark = pytest.mark.django_db


def _read_only_admins():
    return [model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, ReadOnlyMixin)]


def test_every_app_uses_the_one_base():
    apps = {type(model_admin).__module__.split(".")[0] for model_admin in _read_only_admins()}
    assert {"communications", "marketplace", "notifications", "bots"} <= apps


def test_read_only_admins_refuse_add_and_change_even_to_a_superuser(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    for model_admin in _read_only_admins():
        assert not model_admin.has_add_permission(request), model_admin
        assert not model_admin.has_change_permission(request), model_admin
        assert model_admin.has_view_permission(request), model_admin
        assert model_admin.has_delete_permission(request) is model_admin.deletable, model_admin


def test_add_page_of_a_read_only_admin_is_forbidden(admin_client):
    # given a read-only admin (the installations, written by the marketplace API)
    from marketplace.models import Installation

    assert isinstance(admin.site._registry[Installation], ReadOnlyAdmin)
    # when / then
    assert admin_client.get("/admin/marketplace/installation/add/").status_code == 403
    assert admin_client.get("/admin/marketplace/installation/").status_code == 200


def test_webhook_secret_generator_gives_fresh_standard_webhooks_secrets():
    first, second = webhook_secret_generate(), webhook_secret_generate()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
