"""The moderation page of an app version: everything in one place, decisions from the same page."""

import pytest
from django.urls import reverse

from config.moderators import moderator_ensure
from marketplace.models import AppVersion, ModerationDecision
from marketplace.tests.factories import SECRET_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator_client(client, db):
    client.force_login(moderator_ensure(username="moderator"))
    return client


def _page(client, version) -> str:
    response = client.get(reverse("admin:marketplace_appversion_change", args=[version.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _decide(client, version, decision, **data):
    url = reverse("admin:marketplace_appversion_moderate", args=[version.pk, decision])
    return client.post(url, data, follow=True)


def test_page_shows_scope_configuration_with_masked_key_testing_marks_and_conditions(moderator_client,
                                                                                   configured_version, developer):
    # given a configured version the provider's team has tested
    from marketplace import services

    services.app_version_mark_tested(version=configured_version, actor=developer.user, side="provider")
    # when
    page = _page(moderator_client, configured_version)
    # then
    assert 'id="moderation"' in page
    assert "Коммуникации" in page
    assert "https://provider.example/sendMessage" in page and "https://provider.example/getChannels" in page
    assert "****" + SECRET_KEY[-4:] in page and SECRET_KEY not in page
    assert "провайдер — пройдено" in page and "SberCRM — не подтверждено" in page
    assert "Модерация командой SberCRM не пройдена." in page


def test_approve_then_reject_with_reason_from_the_page_is_recorded(moderator_client, configured_version):
    # when
    approved = _decide(moderator_client, configured_version, "approve")
    rejected = _decide(moderator_client, configured_version, "reject", reason="Нет политики конфиденциальности")
    # then
    assert "модерация одобрена" in approved.content.decode()
    assert "версия отклонена" in rejected.content.decode()
    configured_version.refresh_from_db()
    assert configured_version.moderation_status == AppVersion.Moderation.REJECTED
    assert configured_version.rejection_reason == "Нет политики конфиденциальности"
    actions = list(configured_version.decisions.order_by("created_at", "id").values_list("action", "actor__username"))
    assert actions == [("approved", "moderator"), ("rejected", "moderator")]
    assert "Нет политики конфиденциальности" in rejected.content.decode()  # the history on the same page


def test_reject_without_reason_is_refused(moderator_client, configured_version):
    response = _decide(moderator_client, configured_version, "reject", reason="  ")
    assert "Укажите причину отклонения." in response.content.decode()
    configured_version.refresh_from_db()
    assert configured_version.moderation_status == AppVersion.Moderation.DRAFT


def test_blocked_publish_lists_every_missing_condition(moderator_client, version):
    # given a version without configuration, moderation and testing
    # when
    response = _decide(moderator_client, version, "publish")
    # then
    messages = [str(m) for m in response.context["messages"]]
    assert messages[0].endswith("публикация невозможна, не выполнено:")
    assert messages[1:] == [
        "— В модуль коммуникаций не загружена конфигурация провайдера для этой версии.",
        "— Модерация командой SberCRM не пройдена.",
        "— Тестирование не подтверждено командой провайдера.",
        "— Тестирование не подтверждено командой SberCRM.",
    ]
    version.refresh_from_db()
    assert version.published_at is None


def test_publish_of_a_complete_version(moderator_client, publishable):
    response = _decide(moderator_client, publishable, "publish")
    assert "версия опубликована" in response.content.decode()
    publishable.refresh_from_db()
    assert publishable.is_published
    assert publishable.decisions.filter(action=ModerationDecision.Action.PUBLISHED).exists()
    assert 'id="moderation-publish"' not in response.content.decode()


def test_view_only_staff_sees_the_page_but_cannot_decide(client, configured_version):
    # given a staff user who may only view versions
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_appversion"))
    client.force_login(viewer)
    # when
    page = _page(client, configured_version)
    response = client.post(reverse("admin:marketplace_appversion_moderate", args=[configured_version.pk, "approve"]))
    # then
    assert 'id="moderation"' in page and 'id="moderation-approve"' not in page
    assert response.status_code == 403
    configured_version.refresh_from_db()
    assert configured_version.moderation_status == AppVersion.Moderation.DRAFT


def test_moderation_endpoint_accepts_only_post(moderator_client, version):
    url = reverse("admin:marketplace_appversion_moderate", args=[version.pk, "approve"])
    assert moderator_client.get(url).status_code == 405
