"""`make demo`: the whole system end to end, with nothing external, narrated in Russian.

Starts the server (SQLite, eager Celery) and a local fake provider (a real HTTP server on
127.0.0.1), then plays the story through the real HTTP APIs and the admin: a developer
publishes a provider app, a tenant installs it and activates a token, the provider connects a
channel and posts a message, an operator replies (the provider receives sendMessage), the
provider reports delivery, the tenant uninstalls (the provider receives disconnect).
The server and the fake provider keep running afterwards. Ctrl+C, SIGTERM, SIGHUP, or the exit of whoever
started us (`make demo` killed) stop both: the server's process group is stopped and waited for.

    python scripts/demo.py [--port 8000] [--db demo.sqlite3] [--exit]
"""

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from processes import ignore_stop_signals, on_stop_signals, orphaned, stop_all  # noqa: E402

APP, TENANT = "demo-chat", str(uuid.UUID("11111111-2222-4333-8444-555555555555"))
DEV_USER, DEV_PASSWORD = "developer", "developer-demo"


def say(step: str) -> None:
    print(f"\n\033[1m▶ {step}\033[0m", flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


class Demo:
    def __init__(self, base: str, fake):
        self.base, self.fake = base, fake
        self.http = requests.Session()

    # --- HTTP helpers ------------------------------------------------------------------------
    def call(self, method: str, path: str, *, token: str | None = None, expect=(200, 201, 204), **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        if response.status_code not in expect:
            raise SystemExit(f"{method} {path} → {response.status_code}: {response.text[:500]}")
        note(f"{method} {path} → {response.status_code}")
        return response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None

    def jwt(self, username: str, password: str) -> str:
        response = self.http.post(self.base + "/api/auth/token/", json={"username": username, "password": password},
                                  timeout=10)
        response.raise_for_status()
        return response.json()["access"]

    def admin_login(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        session.get(self.base + "/admin/login/", timeout=10)
        response = session.post(self.base + "/admin/login/?next=/admin/", timeout=10, data={
            "username": username, "password": password, "next": "/admin/",
            "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        if "/admin/login/" in response.url:
            raise SystemExit("вход модератора в админку не удался")
        return session

    def admin_post(self, session, path: str, data: dict) -> str:
        response = session.post(self.base + path, timeout=30,
                                data={**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        response.raise_for_status()
        return response.text

    def provider_received(self, endpoint: str, count: int = 1, timeout: float = 20) -> list:
        count += getattr(self, "baseline", {}).get(endpoint, 0)
        self.fake.wait_for(lambda: len(self.fake.accepted_list(endpoint)) >= count, timeout=timeout)
        calls = self.fake.accepted_list(endpoint)
        note(f"фейковый провайдер получил {endpoint}: {calls[-1].json}")
        return calls

    # --- the story ---------------------------------------------------------------------------
    def run(self) -> None:
        from marketplace import selectors
        from marketplace.models import AppVersion

        developer = self.jwt(DEV_USER, DEV_PASSWORD)
        say("1. Разработчик создаёт приложение и версию 1.0.0, затем включает скоуп «Коммуникации»")
        self.call("POST", "/internal/v1/marketplace/apps", token=developer, json={"code": APP, "name": "Демо-чат"})
        self.call("POST", f"/internal/v1/marketplace/apps/{APP}/versions", token=developer, json={"version": "1.0.0"})
        self.call("PUT", f"/internal/v1/marketplace/apps/{APP}/versions/1.0.0/scopes", token=developer,
                  json={"scopes": ["communications"]})
        note("модуль коммуникаций зарегистрировал провайдера с кодом " + APP)

        say("2. Разработчик загружает конфигурацию (эндпоинты — фейковый провайдер) и отправляет версию на модерацию")
        self.call("POST", "/internal/v1/marketplace/provider-configurations", token=developer, json={
            "appCode": APP, "appVersion": "1.0.0", "configurationVersion": "1.0.0", "providerLabel": "Демо-чат",
            "endpoints": self.fake.endpoints(),
            "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": "demo-secret-api-key-0001"}})
        self.call("POST", f"/internal/v1/marketplace/apps/{APP}/versions/1.0.0/submit", token=developer)
        self.call("POST", f"/internal/v1/marketplace/apps/{APP}/versions/1.0.0/testing", token=developer)
        note("команда провайдера подтвердила тестирование на стенде")

        say("3. Модератор в админке: одобряет, отмечает тестирование SberCRM и публикует версию")
        version = AppVersion.objects.get(application__code=APP, version="1.0.0")
        admin = self.admin_login("moderator", "moderator")
        page = f"/admin/marketplace/appversion/{version.pk}"
        self.admin_post(admin, f"{page}/moderate/approve/", {})
        note("модерация одобрена")
        self.admin_post(admin, "/admin/marketplace/appversion/",
                        {"action": "start_test_run", "_selected_action": version.pk, "index": 0})
        note("тестовый стенд проверил эндпоинты провайдера (песочница, не реальный тенант): "
             + str((selectors.app_version_test_run_latest(version=version) or {}).get("status")))
        # the stand's calls went to the sandbox tenant; count only the story's calls from here on
        self.baseline = {name: len(self.fake.accepted_list(name)) for name in self.fake.endpoints()}
        self.admin_post(admin, "/admin/marketplace/appversion/",
                        {"action": "mark_sbercrm_tested", "_selected_action": version.pk, "index": 0})
        note("тестирование SberCRM отмечено")
        self.admin_post(admin, f"{page}/moderate/publish/", {})
        version.refresh_from_db()
        if not version.is_published:
            raise SystemExit("версия не опубликована")
        note(f"версия опубликована: {self.base}{page}/change/")

        say("4. Тенант устанавливает приложение, CRM выпускает токен интеграции")
        marketplace = self.jwt("svc-marketplace", "svc-marketplace-demo")
        crm = self.jwt("svc-crm", "svc-crm-demo")
        self.call("POST", "/internal/v1/marketplace/installations", token=marketplace,
                  json={"tenantId": TENANT, "appCode": APP, "appVersion": "1.0.0"})
        token = self.call("POST", "/internal/v1/integration-tokens", token=crm,
                          json={"tenantId": TENANT, "providerCode": APP})["token"]
        note(f"токен (показывается один раз): {token[:24]}…")
        self.provider_received("getChannels")

        say("5. Провайдер подключает канал и присылает сообщение клиента (публичный API)")
        self.call("POST", "/api/v1/channels", token=token, json={"id": "tg-shop", "code": "telegram",
                                                                  "name": "Бот магазина"})
        self.call("POST", "/api/v1/messages", token=token, json={
            "id": "in-1", "text": "Здравствуйте! Где мой заказ?",
            "chat": {"id": "chat-ivan", "channelId": "tg-shop", "title": "Иван Петров",
                     "participants": [{"id": "client-ivan", "name": "Иван Петров"}]}})

        say("6. Оператор CRM отвечает в чат — провайдер получает sendMessage")
        scope = {"tenantId": TENANT, "providerCode": APP}
        reply = self.call("POST", "/internal/v1/operator/chats/chat-ivan/messages", token=crm,
                          json={**scope, "text": "Добрый день! Заказ передан в доставку."})
        self.provider_received("sendMessage")
        messages = self.call("GET", "/internal/v1/operator/chats/chat-ivan/messages", token=crm, params=scope)
        sent = next(item for item in messages["results"] if item["id"] == reply["id"])
        note(f"id сообщения у провайдера: {sent['externalId']}")

        say("7. Провайдер сообщает о доставке сообщения")
        self.call("POST", f"/api/v1/messages/{sent['externalId']}/status", token=token, json={"status": "delivered"})
        messages = self.call("GET", "/internal/v1/operator/chats/chat-ivan/messages", token=crm, params=scope)
        status = next(item for item in messages["results"] if item["id"] == reply["id"])["status"]
        note(f"статус ответа оператора в CRM: {status}")

        say("8. Тенант удаляет приложение — провайдер получает disconnect")
        self.call("DELETE", "/internal/v1/marketplace/installations", token=marketplace,
                  params={"tenantId": TENANT, "appCode": APP})
        self.provider_received("disconnect")
        self.call("GET", "/api/v1/webhooks", token=token, expect=(401,))
        note("токен больше не принимается: 401")


def prepare_database(db: Path) -> None:
    """A fresh SQLite database with the admin, the moderator, service accounts and a developer."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from marketplace.models import ProviderCompany

    db.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    call_command("seed_demo")
    developer = get_user_model().objects.create_user(DEV_USER, password=DEV_PASSWORD)
    ProviderCompany.objects.create(name="ООО «Демо-чат»").members.add(developer)


def wait_for(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("сервер не запустился")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"сервер не ответил за {timeout:.0f} с")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)))
    parser.add_argument("--db", type=Path, default=ROOT / "demo.sqlite3")
    parser.add_argument("--exit", action="store_true", help="остановить сервер после сценария (для тестов)")
    args = parser.parse_args()
    parent = os.getppid()

    def on_stop(signum, frame):
        ignore_stop_signals()
        raise SystemExit(128 + signum)  # unwinds into the `finally` below, which stops the server

    on_stop_signals(on_stop)

    env = {"DEBUG": "1", "DATABASE_URL": f"sqlite:///{args.db.resolve()}", "REDIS_URL": "", "CELERY_BROKER_URL": "",
           "PROVIDER_ALLOW_LOOPBACK": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    os.environ.update(env)
    import django

    django.setup()
    from config.testing.fake_provider import FakeProvider

    say("0. Подготовка: чистая база SQLite, модератор, сервисные учётные записи, разработчик")
    prepare_database(args.db)
    fake = FakeProvider().start()
    note(f"фейковый провайдер слушает {fake.url}")
    base = f"http://127.0.0.1:{args.port}"
    log = args.db.with_suffix(".server.log")
    server = None
    try:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py, no user input
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
            cwd=ROOT, env={**os.environ, **env}, start_new_session=True, stdout=log.open("w"),
            stderr=subprocess.STDOUT)
        wait_for(base + "/healthz", server)
        note(f"сервер запущен: {base} (журнал сервера: {log})")
        Demo(base, fake).run()
        say("Готово. Всё видно в админке")
        for label, path in (("Сводка модератора", "/admin/"),
                            ("Версия приложения", "/admin/marketplace/appversion/"),
                            ("Журнал доставок", "/admin/communications/delivery/"),
                            ("Чаты и сообщения", "/admin/communications/chat/")):
            note(f"{label:20} {base}{path}")
        note("вход: moderator / moderator (модератор) или admin / admin (суперпользователь)")
        if not args.exit:
            note("Сервер и фейковый провайдер работают. Ctrl+C — остановить.")
            while server.poll() is None and not orphaned(parent):
                time.sleep(0.3)
        return 0
    finally:
        ignore_stop_signals()
        if server is not None:
            stop_all([server])
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
