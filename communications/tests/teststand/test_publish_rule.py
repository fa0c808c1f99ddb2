"""The «tested by SberCRM» mark follows the test stand; a moderator override is recorded."""

import pytest

from communications.tests.factories import upload_configuration
from config.errors import ConflictError, ForbiddenError
from config.testing.fake_provider import Reaction
from marketplace import selectors, services
from marketplace.models import ModerationDecision

pytestmark = pytest.mark.django_db
Action = ModerationDecision.Action


def mark(version, actor, **kwargs):
    return services.app_version_mark_tested(version=version, actor=actor, side="sbercrm", **kwargs)


def test_mark_is_refused_without_any_run(app_version, developer):
    with pytest.raises(ConflictError) as error:
        mark(app_version, developer.user)
    assert error.value.code == "teststand_not_passed" and "нет ни одного прогона" in error.value.message
    app_version.refresh_from_db()
    assert app_version.sbercrm_tested_at is None
    assert not ModerationDecision.objects.filter(action__startswith="sbercrm").exists()


def test_mark_is_set_after_a_passing_run_and_names_it(app_version, developer, start):
    run = start(app_version)
    assert run["status"] == "passed"
    mark(app_version, developer.user)
    app_version.refresh_from_db()
    assert app_version.sbercrm_tested_at and app_version.sbercrm_tested_configuration == "1.0.0"
    decision = ModerationDecision.objects.get(action=Action.SBERCRM_TESTED)
    assert f"#{run['id']} пройден" in decision.reason


def test_latest_run_counts_not_an_earlier_passing_one(app_version, developer, conformant, start):
    # given: a run passed, then the provider broke sendMessage and a new run failed
    assert start(app_version)["passed"]
    conformant.on("sendMessage", Reaction(status=503))
    failed = start(app_version)
    assert failed["status"] == "failed"
    # when / then
    with pytest.raises(ConflictError) as error:
        mark(app_version, developer.user)
    assert f"#{failed['id']} не пройден" in error.value.message and "sendMessage" in error.value.message


def test_moderator_override_with_reason_is_recorded(app_version, moderator, conformant, start):
    conformant.on("markChatRead", Reaction(status=404))
    assert start(app_version)["status"] == "failed"
    mark(app_version, moderator.user, override_reason="Провайдер исправил markChatRead, проверено вручную")
    app_version.refresh_from_db()
    assert app_version.sbercrm_tested_by == moderator.user
    decision = ModerationDecision.objects.get(action=Action.SBERCRM_TESTED_OVERRIDE)
    assert decision.actor == moderator.user
    assert decision.reason.startswith("Провайдер исправил markChatRead") and "не пройден" in decision.reason


def test_override_needs_a_reason_and_a_moderator(app_version, developer, moderator):
    with pytest.raises(ConflictError):
        mark(app_version, moderator.user, override_reason="   ")
    with pytest.raises(ForbiddenError):
        mark(app_version, developer.user, override_reason="очень надо")
    assert not ModerationDecision.objects.filter(action__startswith="sbercrm").exists()


def test_new_configuration_after_the_mark_reopens_the_condition(app_version, developer, conformant, start):
    # given: published-ready except that a new configuration is uploaded after the SberCRM mark
    services.app_version_approve(version=app_version, actor=developer.user)
    services.app_version_mark_tested(version=app_version, actor=developer.user, side="provider")
    start(app_version)
    mark(app_version, developer.user)
    assert selectors.app_version_unmet_conditions(version=app_version) == []
    upload_configuration(developer, conformant, version="1.1.0", method="put")
    # then: the mark no longer covers the active configuration; publishing is refused
    unmet = selectors.app_version_unmet_conditions(version=app_version)
    assert [item["code"] for item in unmet] == ["sbercrm_testing"]
    assert "1.0.0" in unmet[0]["message"] and "1.1.0" in unmet[0]["message"]
    with pytest.raises(Exception, match="нужен новый прогон"):
        services.app_version_publish(version=app_version, actor=developer.user)
    # when: the new configuration passes and is marked again, publishing works
    start(app_version)
    mark(app_version, developer.user)
    assert services.app_version_publish(version=app_version, actor=developer.user).is_published
