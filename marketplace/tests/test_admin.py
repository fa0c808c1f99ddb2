import pytest
from django.contrib.auth import get_user_model

from communications.models import ProviderConfiguration
from marketplace.models import AppVersion, ModerationDecision, Scope
from marketplace.tests.factories import SECRET_KEY, record_passed_test_run

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/marketplace/appversion/"


@pytest.fixture
def moderator(client):
    user = get_user_model().objects.create_superuser("moderator", "m@sbercrm.local", "pass-12345-word")
    client.force_login(user)
    client.user = user
    return client


def _action(moderator, action, version, **extra):
    return moderator.post(CHANGELIST, {"action": action, "_selected_action": [version.pk], **extra}, follow=True)


def _messages(response):
    return [str(message) for message in response.context["messages"]]


def test_approve_records_moderator_and_time(moderator, version):
    _action(moderator, "approve", version)
    version.refresh_from_db()
    assert version.moderation_status == AppVersion.Moderation.APPROVED
    decision = ModerationDecision.objects.get()
    assert (decision.action, decision.actor) == (ModerationDecision.Action.APPROVED, moderator.user)
    assert decision.created_at is not None


def test_reject_requires_reason_and_stores_it(moderator, version):
    # when: no reason
    without = _action(moderator, "reject", version, reason="")
    # then
    assert any("Укажите причину" in text for text in _messages(without))
    assert not ModerationDecision.objects.exists()
    # when: with a reason
    _action(moderator, "reject", version, reason="Нет описания каналов")
    version.refresh_from_db()
    assert (version.moderation_status, version.rejection_reason) == ("rejected", "Нет описания каналов")
    assert ModerationDecision.objects.get().reason == "Нет описания каналов"


def test_testing_sides_are_marked_separately(moderator, configured_version):
    version = configured_version
    record_passed_test_run(version)
    _action(moderator, "mark_provider_tested", version)
    version.refresh_from_db()
    assert version.provider_tested_by == moderator.user and version.sbercrm_tested_at is None
    _action(moderator, "mark_sbercrm_tested", version)
    version.refresh_from_db()
    assert version.sbercrm_tested_by == moderator.user
    assert list(ModerationDecision.objects.order_by("id").values_list("action", flat=True)) == [
        "provider_tested", "sbercrm_tested"]


def test_publish_action_shows_unmet_conditions(moderator, version):
    response = _action(moderator, "publish", version)
    text = " ".join(_messages(response))
    assert "конфигурация провайдера" in text and "Модерация" in text and "SberCRM" in text
    version.refresh_from_db()
    assert version.published_at is None


def test_publish_action_publishes_when_ready(moderator, publishable):
    _action(moderator, "publish", publishable)
    publishable.refresh_from_db()
    assert publishable.is_published
    assert ModerationDecision.objects.filter(action="published", actor=moderator.user).exists()


def test_change_page_lists_unmet_conditions(moderator, version):
    response = moderator.get(f"{CHANGELIST}{version.pk}/change/")
    assert response.status_code == 200
    assert "Невыполненные условия публикации" in response.content.decode()


def test_communications_scope_cannot_be_disabled_in_admin(moderator, version):
    # when: the moderator unticks every scope
    response = moderator.post(f"{CHANGELIST}{version.pk}/change/", {
        "scope_set": [], "decisions-TOTAL_FORMS": "0", "decisions-INITIAL_FORMS": "0"})
    # then
    assert response.status_code == 200
    assert "нельзя отключить" in response.content.decode()
    assert list(version.scopes.values_list("code", flat=True)) == ["communications"]


def test_communications_scope_can_be_enabled_in_admin_and_registers_provider(moderator, app):
    # given
    from communications.models import Provider
    from marketplace import services
    bare = services.app_version_create(application=app, version="1.0.0")
    scope = Scope.objects.get(code="communications")
    # when
    response = moderator.post(f"{CHANGELIST}{bare.pk}/change/", {
        "scope_set": [scope.pk], "decisions-TOTAL_FORMS": "0", "decisions-INITIAL_FORMS": "0"})
    # then
    assert response.status_code == 302
    assert list(bare.scopes.values_list("code", flat=True)) == ["communications"]
    assert Provider.objects.filter(code="acme").exists()


def test_scope_rows_cannot_be_deleted_in_admin(moderator):
    scope = Scope.objects.get(code="communications")
    assert moderator.post(f"/admin/marketplace/scope/{scope.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Scope.objects.filter(code="communications").exists()


def test_provider_configuration_admin_is_read_only_and_masks_the_key(moderator, configured_version):
    configuration = ProviderConfiguration.objects.get()
    listing = moderator.get("/admin/communications/providerconfiguration/")
    page = moderator.get(f"/admin/communications/providerconfiguration/{configuration.pk}/change/")
    body = page.content.decode()
    assert listing.status_code == page.status_code == 200
    assert SECRET_KEY not in body and SECRET_KEY not in listing.content.decode()
    assert "****-123" in body and "sendMessage" in body
    assert moderator.post(f"/admin/communications/providerconfiguration/{configuration.pk}/change/",
                          {"auth_key": "changed"}).status_code == 403


def test_tenant_configuration_admin_lists(moderator, db):
    assert moderator.get("/admin/communications/tenantconfiguration/").status_code == 200
    assert moderator.get("/admin/marketplace/installation/").status_code == 200
    assert moderator.get("/admin/marketplace/moderationdecision/").status_code == 200
