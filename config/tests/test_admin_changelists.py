"""Every admin list page: searchable, filterable, and no query per row."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.tests.world import world_create

pytestmark = pytest.mark.django_db

# Tables with a handful of rows that a filter would not help with.
NO_FILTERS = {"auth.group", "marketplace.scope"}


def _registry():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


def _changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured), response.content.decode()


@pytest.mark.parametrize("model_admin", [ma for _, ma in _registry()], ids=lambda ma: ma.model._meta.label_lower)
def test_changelist_has_search_and_filters(model_admin):
    assert model_admin.search_fields, f"{model_admin} has no search"
    if model_admin.model._meta.label_lower not in NO_FILTERS:
        assert model_admin.list_filter, f"{model_admin} has no filters"


# Tables that grow with every message, send or update (never or only monthly pruned): their lists must not read
# every row per page (issue 19; communications/tests/performance/test_admin_volume.py measures the delivery log's).
GROWING = {"communications.delivery", "communications.message", "communications.chat",
           "communications.messagestatushistory", "notifications.notification", "notifications.pushhistory",
           "notifications.servicebindinghistory", "notifications.devicehistory", "notifications.preferencechange",
           "notifications.notifyrequest", "notifications.statuscallback", "bots.processedupdate"}


@pytest.mark.parametrize("label", sorted(GROWING))
def test_lists_of_growing_tables_count_up_to_a_cap_and_have_no_date_hierarchy(label):
    from config.admin import CappedCountPaginator

    model_admin = next(ma for model, ma in _registry() if model._meta.label_lower == label)
    assert model_admin.paginator is CappedCountPaginator
    assert not model_admin.show_full_result_count and not model_admin.date_hierarchy


def test_every_changelist_issues_the_same_number_of_queries_for_1_and_4_rows(admin_client):
    # given one row of everything
    world_create()
    for model, _ in _registry():
        assert model._default_manager.exists(), f"world_create() makes no {model._meta.label} row"
    before = {model: _queries(admin_client, _changelist_url(model))[0] for model, _ in _registry()}
    before["dashboard"] = _queries(admin_client, reverse("admin:index"))[0]

    # when three more sets exist
    for _ in range(3):
        world_create()

    # then no list page (nor the dashboard) issues more queries
    grown = {}
    for model, _ in _registry():
        count, page = _queries(admin_client, _changelist_url(model))
        if count != before[model]:
            grown[model._meta.label] = (before[model], count)
    dashboard = _queries(admin_client, reverse("admin:index"))[0]
    if dashboard != before["dashboard"]:
        grown["dashboard"] = (before["dashboard"], dashboard)
    assert grown == {}


def test_changelist_search_finds_rows(admin_client):
    # given two worlds
    first, second = world_create(), world_create()
    # when searching the app versions and recipients
    versions = admin_client.get(_changelist_url(type(first["version"])), {"q": first["app"].code}).content.decode()
    recipients = admin_client.get(_changelist_url(type(first["recipient"])),
                                  {"q": second["recipient"].email}).content.decode()
    # then only the matching rows are listed
    assert f'{first["app"].name}' in versions and f'{second["app"].name} ({second["app"].code})' not in versions
    assert second["recipient"].name in recipients and first["recipient"].name not in recipients
