"""The admin front page: figures that need a moderator's attention, each linking to exactly its rows."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from communications.models import Delivery, IntegrationToken
from config.moderators import moderator_ensure
from config.selectors import dashboard_figures
from config.tests.world import world_create
from marketplace import services as marketplace_services
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(admin_user):
    """Two worlds: one version ready to publish, one still pending; one old dead delivery, one old failure."""
    ready, pending = world_create(), world_create()
    version = ready["version"]
    marketplace_services.app_version_approve(version=version, actor=admin_user)
    for side in ("provider", "sbercrm"):
        marketplace_services.app_version_mark_tested(version=version, actor=admin_user, side=side)
    two_days_ago = timezone.now() - timedelta(days=2)
    Delivery.objects.filter(pk=pending["delivery"].pk).update(updated_at=two_days_ago)
    Notification.objects.filter(recipient=pending["recipient"]).update(timestamp=two_days_ago)
    IntegrationToken.objects.filter(tenant_id=pending["tenant_id"]).update(status=IntegrationToken.Status.DEACTIVATED)
    return ready, pending


def _figures(user) -> dict:
    return {figure.key: figure for figure in dashboard_figures(user=user)}


def test_figures_count_what_needs_attention(admin_user, scene):
    # when
    figures = _figures(admin_user)
    # then
    assert {key: figure.count for key, figure in figures.items()} == {
        "pending": 1, "ready": 1, "failing_providers": 2, "dead_24h": 1, "active_tenants": 1, "failed_today": 1,
        "pending_configurations": 0,
    }


def test_each_figure_links_to_a_list_of_exactly_its_rows(admin_client, admin_user, scene):
    ready, pending = scene
    figures = _figures(admin_user)

    def page(key):
        response = admin_client.get(figures[key].url)
        assert response.status_code == 200
        return response.content.decode()

    assert f"{pending['app'].name} ({pending['app'].code})" in page("pending")
    assert f"{ready['app'].name} ({ready['app'].code})" not in page("pending")
    assert f"{ready['app'].name} ({ready['app'].code})" in page("ready")
    assert f"{pending['app'].name} ({pending['app'].code})" not in page("ready")
    dead = page("dead_24h")
    assert f"#{ready['delivery'].pk}<" in dead and f"#{pending['delivery'].pk}<" not in dead
    assert ready["provider"].code in page("failing_providers")
    assert str(ready["tenant_id"]) in page("active_tenants") and str(pending["tenant_id"]) not in page("active_tenants")
    failed = page("failed_today")
    assert str(ready["recipient"].name) in failed and str(pending["recipient"].name) not in failed


def test_front_page_shows_the_dashboard_in_russian(admin_client, scene):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard"' in page
    for label in ("Версии на модерации", "Готовы к публикации", "Не доставлено за 24 часа",
                  "Тенанты с активными интеграциями", "Уведомления с ошибкой сегодня"):
        assert label in page


def test_figures_of_models_the_user_cannot_view_are_left_out(db):
    # given a staff user with no permissions and a moderator
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("nobody", is_staff=True)
    moderator = moderator_ensure(username="mod")
    # then
    assert dashboard_figures(user=nobody) == []
    assert {figure.key for figure in dashboard_figures(user=moderator)} == {
        "pending", "ready", "failing_providers", "dead_24h", "active_tenants", "failed_today",
        "pending_configurations"}


def test_sandbox_tenants_are_left_out_of_the_figures_and_the_default_lists(admin_client, admin_user, scene):
    # given: a third world whose tenant is a developer's sandbox (a dead delivery and an active token there)
    ready, _ = scene
    before = _figures(admin_user)
    sandbox_world = world_create()
    sandbox = sandbox_world["app"].company.sandbox_tenant_id
    for model in (Delivery, IntegrationToken):
        model.objects.filter(tenant_id=sandbox_world["tenant_id"]).update(tenant_id=sandbox)
    # when
    figures = _figures(admin_user)
    deliveries = reverse("admin:communications_delivery_changelist")
    default = admin_client.get(deliveries).content.decode()
    sandboxes = admin_client.get(f"{deliveries}?tenants=sandbox").content.decode()
    # then: the customer figures do not move, and the sandbox delivery shows only under «Песочницы разработчиков»
    for key in ("failing_providers", "dead_24h", "active_tenants"):
        assert figures[key].count == before[key].count, key
    assert sandbox_world["provider"].code not in admin_client.get(figures["failing_providers"].url).content.decode()
    assert f"#{sandbox_world['delivery'].pk}<" not in default and f"#{ready['delivery'].pk}<" in default
    assert f"#{sandbox_world['delivery'].pk}<" in sandboxes and f"#{ready['delivery'].pk}<" not in sandboxes
