"""A moderator's day in a real browser: moderation, a dead delivery, a recipient lookup."""

import pytest

from communications.models import Delivery
from communications.services import deliveries as delivery_services
from communications.tests.factories import make_tenant_configuration
from config.testing.fake_provider import FakeProvider, Reaction
from config.tests.world import world_create
from marketplace import services as marketplace_services
from marketplace.models import AppVersion
from notifications.tests.factories import NotificationFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _figure(page, key: str) -> int:
    return int(page.inner_text(f"#figure-{key} .figure-count"))


def _home(page) -> None:
    page.click("#site-name a")
    page.wait_for_selector("#dashboard")


def test_moderator_approves_sees_what_blocks_publishing_and_publishes(logged_in, moderator):
    page = logged_in
    # given: one version waiting for moderation, one approved but without configuration, one complete
    waiting = world_create()["version"]
    bare_app = marketplace_services.application_create(company=waiting.application.company, code="bare",
                                                       name="Без конфигурации")
    bare = marketplace_services.app_version_create(application=bare_app, version="1.0.0", scopes=["communications"])
    marketplace_services.app_version_submit(version=bare, actor=moderator)
    complete = world_create()["version"]
    marketplace_services.app_version_approve(version=complete, actor=moderator)
    for side in ("provider", "sbercrm"):
        marketplace_services.app_version_mark_tested(version=complete, actor=moderator, side=side)
    page.reload()
    assert _figure(page, "pending") == 2 and _figure(page, "ready") == 1

    # when: the queue, then the waiting version is approved from its moderation page
    page.click("#figure-pending")
    page.click(f"text={waiting.application.name} ({waiting.application.code})")
    assert "sendMessage" in page.inner_text("#moderation-configuration")
    assert "****" in page.inner_text("#moderation-configuration")
    page.click("#moderation-approve")
    assert "модерация одобрена" in page.inner_text("ul.messagelist")

    # when: publishing the version without configuration
    _home(page)
    page.click("#figure-pending")
    page.click("text=Без конфигурации (bare)")
    page.click("#moderation-publish")
    # then: it stays unpublished and every missing condition is listed
    messages = page.inner_text("ul.messagelist")
    assert "публикация невозможна" in messages
    assert "не загружена конфигурация провайдера" in messages
    assert "Тестирование не подтверждено командой SberCRM" in messages

    # when: the complete version is published from the «ready» figure
    _home(page)
    page.click("#figure-ready")
    page.click(f"text={complete.application.name} ({complete.application.code})")
    assert "все выполнены" in page.inner_text("#moderation-conditions")
    page.click("#moderation-publish")
    # then
    assert "версия опубликована" in page.inner_text("ul.messagelist")
    assert AppVersion.objects.get(pk=complete.pk).is_published
    assert AppVersion.objects.get(pk=waiting.pk).moderation_status == AppVersion.Moderation.APPROVED
    assert not AppVersion.objects.get(pk=bare.pk).is_published


def test_moderator_retries_a_dead_delivery_after_the_provider_recovers(logged_in, settings):
    page = logged_in
    settings.DELIVERY_RETRY_SCHEDULE, settings.DELIVERY_RETRY_JITTER = [0.01], 0  # two attempts
    settings.PROVIDER_ALLOW_LOOPBACK = True
    with FakeProvider() as fake:
        # given: the provider answers 503 until the delivery is dead
        fake.always(Reaction(status=503, body={"error": "maintenance"}))
        tenant_configuration = make_tenant_configuration(fake)
        delivery = delivery_services.delivery_enqueue(tenant_configuration=tenant_configuration,
                                                      endpoint="sendMessage", payload={"text": "Ваш заказ готов"})
        assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DEAD
        page.reload()
        assert _figure(page, "dead_24h") == 1

        # when: from the dashboard to the delivery and its attempts
        page.click("#figure-dead_24h")
        page.click(f"text=#{delivery.pk}")
        attempts = page.inner_text("#attempt_log-group")
        assert attempts.count("503") >= 2 and "maintenance" in attempts

        # when: the provider recovers and the moderator retries from the list
        fake.always(None)
        page.go_back()
        page.check(f"input[name=_selected_action][value='{delivery.pk}']")
        page.select_option("select[name=action]", "retry_deliveries")
        page.click("button[name=index]")
        assert "Поставлено на повторную отправку: 1" in page.inner_text("ul.messagelist")
        page.click("#nav-sidebar a:has-text('Журнал доставок')")
        page.click(f"text=#{delivery.pk}")

        # then
        assert page.inner_text(".field-status .readonly") == "Доставлена"
        assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED
        assert len(fake.accepted_list("sendMessage")) == 1


def test_moderator_looks_up_a_recipient_with_bindings_devices_and_history(logged_in):
    page = logged_in
    # given
    recipient = world_create()["recipient"]
    world_create()
    NotificationFactory(recipient=recipient, service="telegram", subject="Счёт оплачен", status="sent")
    # when: the moderator searches by email and opens the recipient
    page.click("a[href$='/admin/notifications/recipient/']")
    page.fill("#searchbar", recipient.email)
    page.press("#searchbar", "Enter")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click("#result_list tbody tr a")
    # then: bindings, devices and notification history on one page (read-only for a moderator)
    assert recipient.bindings.get().service_user_id in page.inner_text("#bindings-group")
    assert recipient.devices.get().device_id in page.inner_text("#devices-group")
    history = page.inner_text("#notification-history")
    assert "Счёт оплачен" in history and "OneSignal 400" in history and "Ошибка" in history
