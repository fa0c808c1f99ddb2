"""Moderators start runs and read reports in the admin (Russian); the mark/override actions."""

import pytest

from communications.models import ConformanceCheck, ConformanceRun
from communications.tests.factories import STAND_API_KEY
from config.testing.fake_provider import Reaction
from marketplace.models import ModerationDecision
from marketplace.tests.factories import SECRET_KEY

pytestmark = pytest.mark.django_db
VERSIONS = "/admin/marketplace/appversion/"


def action(moderator, name, version, **extra):
    return moderator.post(VERSIONS, {"action": name, "_selected_action": [version.pk], **extra}, follow=True)


def messages(response):
    return " ".join(str(message) for message in response.context["messages"])


def test_moderator_starts_a_run_and_reads_the_report(app_version, moderator, conformant,
                                                     django_capture_on_commit_callbacks):
    # given: sendMessage misbehaves
    conformant.on("sendMessage", Reaction(body={"status": "accepted"}))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = action(moderator, "start_test_run", app_version)
    # then
    assert "прогон поставлен в очередь" in messages(response)
    run = ConformanceRun.objects.get()
    assert (run.origin, run.started_by, run.status) == ("moderator", moderator.user, "failed")
    assert ModerationDecision.objects.filter(action="test_run_started", actor=moderator.user).exists()
    page = moderator.get(f"/admin/communications/conformancerun/{run.pk}/change/").content.decode()
    assert "Не пройден" in page and "Ответ не соответствует контракту" in page and "messageId" in page
    check = run.checks.get(endpoint="sendMessage", is_repeat=False)
    detail = moderator.get(f"/admin/communications/conformancecheck/{check.pk}/change/").content.decode()
    assert "Запрос" in detail and "tenantId" in detail and "accepted" in detail
    assert STAND_API_KEY not in page + detail and SECRET_KEY not in page + detail
    # the version card points at the latest run
    card = moderator.get(f"{VERSIONS}{app_version.pk}/change/").content.decode()
    assert "Тестовый стенд" in card and f"#{run.pk}" in card


def test_lists_render(app_version, moderator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        action(moderator, "start_test_run", app_version)
    for url in ("conformancerun", "conformancecheck", "sandboxtenant"):
        assert moderator.get(f"/admin/communications/{url}/").status_code == 200
    assert moderator.get("/admin/communications/conformancerun/?status__exact=passed").status_code == 200
    assert ConformanceCheck.objects.filter(verdict="ok").count() == 12


def test_mark_action_refuses_without_passing_run_and_override_records_reason(app_version, moderator):
    # when: plain mark without any run
    refused = action(moderator, "mark_sbercrm_tested", app_version)
    assert "нельзя поставить" in messages(refused)
    # when: override without a reason
    assert "Укажите причину" in messages(action(moderator, "override_sbercrm_tested", app_version, reason=""))
    app_version.refresh_from_db()
    assert app_version.sbercrm_tested_at is None
    # when: override with a reason
    action(moderator, "override_sbercrm_tested", app_version, reason="Стенд недоступен провайдеру, проверено вручную")
    app_version.refresh_from_db()
    assert app_version.sbercrm_tested_by == moderator.user
    decision = ModerationDecision.objects.get(action="sbercrm_tested_override")
    assert decision.reason.startswith("Стенд недоступен провайдеру") and decision.actor == moderator.user
    # and the history on the version card shows it
    card = moderator.get(f"{VERSIONS}{app_version.pk}/change/").content.decode()
    assert "Тестирование SberCRM отмечено без пройденного прогона" in card
