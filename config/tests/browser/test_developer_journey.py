"""Issue 17: the whole developer path in the console, in Chromium: sign up and confirm (the link from the SMTP
sink), create an app and a version, enable the scope, upload a configuration, rotate the secret, run the stand,
submit; the moderator approves and marks the testing in the admin; publish; the sandbox: install, token, an
operator message arriving at the loopback provider; the delivery log: one call made to fail, then retried."""

import json
import logging
import re

import pytest
import requests

from communications.models import ConformanceRun, Delivery
from config.testing.fake_provider import FakeProvider
from config.testing.smtp_sink import SmtpSink
from config.tests.browser.journey import ARTIFACTS, PASSWORD
from marketplace.models import AppVersion

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
logging.getLogger("mail.log").setLevel(logging.WARNING)
DEV_EMAIL, DEV_PASSWORD = "dev@nova.example", "Nova-chat-pass-2026"


@pytest.fixture
def remotes(settings):
    with SmtpSink() as smtp, FakeProvider() as fake:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = smtp.host, smtp.port, False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.PROVIDER_ALLOW_LOOPBACK = True
        settings.PROVIDER_CONNECT_TIMEOUT = settings.PROVIDER_READ_TIMEOUT = 2
        settings.TESTSTAND_RUN_BUDGET = 30
        settings.DELIVERY_RETRY_JITTER = 0
        yield smtp, fake


def _sent(fake) -> list[str]:
    """Texts of the operator messages the provider accepted (the test stand's own calls left out)."""
    texts = [r.json["text"] for r in fake.accepted_list("sendMessage")]
    return [text for text in texts if not text.startswith("Проверка тестового стенда")]


def _moderator_marks(browser, live_server):
    """The moderator approves the version from its moderation page and marks SberCRM testing in the list."""
    context = browser.new_context(locale="ru-RU", viewport={"width": 1400, "height": 1000})
    admin = context.new_page()
    admin.set_default_timeout(15_000)
    admin.goto(f"{live_server.url}/admin/")
    admin.fill("#id_username", "moderator")
    admin.fill("#id_password", PASSWORD)
    admin.click("input[type=submit]")
    admin.click("#figure-pending")
    admin.click("text=Nova Chat (nova)")
    admin.click("#moderation-approve")
    assert "модерация одобрена" in admin.inner_text("ul.messagelist")
    version = AppVersion.objects.get(application__code="nova", version="1.0.0")
    admin.goto(f"{live_server.url}/admin/marketplace/appversion/")
    admin.check(f"input[name=_selected_action][value='{version.pk}']")
    admin.select_option("select[name=action]", "mark_sbercrm_tested")
    admin.click("button[name=index]")
    assert "тестирование SberCRM отмечено" in admin.inner_text("ul.messagelist")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=str(ARTIFACTS / "test_developer_journey_moderator.png"), full_page=True)
    context.close()


def test_developer_signs_up_publishes_tries_the_sandbox_and_retries_a_failed_call(page, browser, live_server,
                                                                                     moderator, remotes):
    smtp, fake = remotes
    base = live_server.url
    # sign up and confirm the address with the emailed link
    page.goto(f"{base}/developers/signup/")
    page.fill("#id_email", DEV_EMAIL)
    page.fill("#id_password", DEV_PASSWORD)
    page.fill("#id_companyName", "Nova LLC")
    page.click("button[type=submit]")
    assert "зарегистрирована" in page.inner_text("[role=status]")
    link = re.search(r"https?://\S+", smtp.messages[-1].get_body(("plain",)).get_content()).group(0)
    page.goto(link)
    page.click("text=Подтвердить адрес")
    assert "подтверждён" in page.inner_text("[role=status]")

    # sign in to the console; an app, a version, the scope, a configuration, the signing secret
    page.goto(f"{base}/developers/console/login/")
    page.fill("#username", DEV_EMAIL)
    page.fill("#password", DEV_PASSWORD)
    page.click("button[type=submit]")
    page.fill("#code", "nova")
    page.fill("#name", "Nova Chat")
    page.click("#create-app button[type=submit]")
    page.fill("#new-version", "1.0.0")
    page.click("#create-version button[type=submit]")
    page.click(".enable-scope")
    version = "section[data-version='1.0.0']"
    page.fill(f"{version} textarea[name=configuration]", json.dumps({"configurationVersion": "1.0.0"}))
    page.click(f"{version} .save-configuration")
    assert page.locator("#error [data-field=providerLabel]").count() == 1  # field errors inline
    configuration = {"configurationVersion": "1.0.0", "providerLabel": "Nova Chat", "endpoints": fake.endpoints(),
                     "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": "nova-secret-api-key-42"}}
    page.fill(f"{version} textarea[name=configuration]", json.dumps(configuration))
    page.click(f"{version} .save-configuration")
    assert "Конфигурация сохранена" in page.inner_text("#notice")
    page.click("#rotate-secret")
    assert page.inner_text("#signing-secret").count("whsec_") == 1

    # the test stand, the provider's testing mark, submitting
    page.click(f"{version} .start-run")
    page.goto(page.url)
    assert "passed" in page.inner_text(f"{version} .run-status")
    assert page.locator(f"{version} table.checks tr").count() > 1
    assert ConformanceRun.objects.get().status == ConformanceRun.Status.PASSED
    page.click(f"{version} .mark-tested")
    page.click(f"{version} .submit-version")
    assert "на модерацию" in page.inner_text("#notice")

    _moderator_marks(browser, live_server)
    page.click(f"{version} .publish-version")
    assert "Версия опубликована" in page.inner_text("#notice")

    # the sandbox: install, a token, a chat from the provider's side, an operator message
    page.click("text=Песочница")
    page.click("#install button[type=submit]")
    assert "установлено в песочницу" in page.inner_text("#notice")
    page.click("#issue-token button[type=submit]")
    token = page.inner_text("#sandbox-token code")
    chat = {"id": "chat-7", "title": "Клиент Аня", "type": "private", "participants": [{"id": "u-7", "name": "Аня"}]}
    created = requests.post(f"{base}/api/v1/chats", json=chat, headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert created.status_code in (200, 201), created.text
    page.goto(page.url)
    page.fill("#operator-text", "Здравствуйте, Аня!")
    page.click("#operator-message button[type=submit]")
    assert "отправлено" in page.inner_text("#notice")
    assert _sent(fake) == ["Здравствуйте, Аня!"]

    # the delivery log: one call fails, then it is retried from the console
    fake.fail_next(1, status=400, body={"error": "chat closed"})
    page.fill("#operator-text", "Второе сообщение")
    page.click("#operator-message button[type=submit]")
    failed = Delivery.objects.get(endpoint="sendMessage", status=Delivery.Status.REFUSED)
    page.click("text=Журнал доставок")
    section = f"section.delivery[data-id='{failed.pk}']"
    assert page.inner_text(f"{section} .status") == "refused" and "chat closed" in page.inner_text(section)
    headers = page.text_content(f"{section} details")
    assert "****y-42" in headers and "nova-secret-api-key-42" not in page.content()  # the API key masked
    page.click(f"{section} .retry")
    assert "поставлен на повтор" in page.inner_text("#notice")
    page.goto(page.url)
    assert page.inner_text(f"{section} .status") == "delivered"
    assert _sent(fake) == ["Здравствуйте, Аня!", "Второе сообщение"]
