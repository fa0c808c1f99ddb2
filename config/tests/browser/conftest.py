"""Playwright driving Debian's Chromium (`apt-get install chromium`; browser downloads are impossible here)
against pytest-django's live server. Each journey saves a screenshot of its last page under artifacts/browser/.

The live server needs a transactional database, which earlier transactional tests may have flushed: the
rows data migrations write (the communications scope, the moderators group) are put back before each test."""

import importlib
import os
from pathlib import Path

import pytest

from config.tests.browser.journey import ARTIFACTS, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread, which Django's
    async-safety check would take for an async context. Allowed while the browser lives, and only then."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (`make test` does it when run as root)"
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture(autouse=True)
def _migration_data(transactional_db):
    from django.apps import apps

    from marketplace.models import Scope

    Scope.objects.get_or_create(code=Scope.COMMUNICATIONS, defaults={"label": "Коммуникации"})
    importlib.import_module("config.migrations.0001_moderators_group").create_group(apps, None)


@pytest.fixture
def moderator(_migration_data):
    from config.moderators import moderator_ensure

    return moderator_ensure(username="moderator", password=PASSWORD)


@pytest.fixture
def logged_in(page, live_server, moderator):
    """The moderator signs in through the admin login form; returns the page on the front page."""
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "moderator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")
    return page
