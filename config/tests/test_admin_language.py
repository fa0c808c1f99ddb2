"""The admin speaks Russian whatever the browser asks for: no LocaleMiddleware, Russian is the only language."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept_language", ["en", "en-US,en;q=0.9", "de"])
def test_admin_chrome_is_russian_for_a_foreign_browser(admin_client, accept_language):
    # when an English (or German) browser opens the admin index and a change list
    index = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE=accept_language)
    changelist = admin_client.get("/admin/auth/user/", HTTP_ACCEPT_LANGUAGE=accept_language)
    # then Django's own chrome is Russian, not «WELCOME» / «Select … to change»
    assert index.status_code == 200 and changelist.status_code == 200
    assert '<html lang="ru"' in index.content.decode()
    assert "Добро пожаловать" in index.content.decode()
    assert "Welcome" not in index.content.decode()
    page = changelist.content.decode()
    assert "Выберите пользователь для изменения" in page
    assert "to change" not in page


def test_api_messages_are_russian_for_an_english_client(client):
    # when an English client calls the API without credentials
    response = client.get("/internal/v1/marketplace/apps", HTTP_ACCEPT_LANGUAGE="en")
    # then DRF's own message is Russian too
    assert response.status_code == 401
    assert "Учетные данные не были предоставлены" in response.content.decode()
