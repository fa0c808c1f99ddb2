import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_settings_fail_loudly_without_secret_key_when_debug_is_off():
    # when
    result = _import_settings({"DEBUG": "0"})
    # then
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY environment variable is required" in result.stderr


def test_settings_load_with_secret_key_when_debug_is_off():
    result = _import_settings({"DEBUG": "0", "SECRET_KEY": "x" * 60})
    assert result.returncode == 0, result.stderr


def test_schema_builds_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def _healthz(client, status_code: int) -> dict:
    response = client.get("/healthz")
    assert response.status_code == status_code
    body = response.json()
    assert body["checks"]["database"] == "ok"
    return body


@pytest.mark.django_db
def test_healthz_ok_when_database_and_broker_are_up(client):
    assert _healthz(client, 200)["status"] == "ok"


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_not_ok_when_broker_unreachable(client):
    body = _healthz(client, 503)
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"].startswith("error")


@pytest.mark.integration
@pytest.mark.django_db
def test_healthz_reports_real_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


@pytest.mark.integration
def test_task_sent_through_redis_runs_on_real_worker(celery_worker):
    from config.celery import ping

    result = ping.delay("hello-from-redis")
    assert result.get(timeout=30) == "hello-from-redis"


def test_unknown_route_returns_json_envelope(client):
    response = client.get("/api/v1/definitely-not-a-route")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_malformed_json_returns_json_envelope(api_client):
    from django.contrib.auth.models import User

    User.objects.create_user("dev", password="pw-123456789")
    response = api_client.post("/api/auth/token/", data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
def test_validation_errors_name_the_field(api_client):
    response = api_client.post("/api/auth/token/", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_service_account_obtains_jwt(api_client):
    call_command("create_service_account", "svc-test", "--role", "crm", "--password", "s3cret-pass-123")
    response = api_client.post("/api/auth/token/", {"username": "svc-test", "password": "s3cret-pass-123"},
                               format="json")
    assert response.status_code == 200
    assert {"access", "refresh"} <= set(response.json())
    refreshed = api_client.post("/api/auth/token/refresh/", {"refresh": response.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200 and "access" in refreshed.json()


@pytest.mark.django_db
def test_api_docs_are_served_without_auth_and_without_cdn(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    assert client.get("/api/redoc/").status_code == 200


def test_compose_services_point_at_real_entry_points():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    expected = {"db", "redis", "web", "worker", "beat", "telegram-bot", "vk-bot"}
    assert expected <= set(services)
    # manage.py defaults to DEBUG=1 for developers; every production service pins it off
    for name in expected - {"db", "redis"}:
        assert services[name]["environment"]["DEBUG"] == "0", name

    from django.core.management import get_commands

    commands = get_commands()
    for name in ("web", "worker", "beat", "telegram-bot", "vk-bot"):
        command = services[name]["command"]
        argv = command if isinstance(command, list) else command.split()
        if argv[0] == "gunicorn":
            module, attr = argv[-1].split(":") if ":" in argv[-1] else (next(a for a in argv if ":" in a).split(":"))
            assert (ROOT / (module.replace(".", "/") + ".py")).exists(), command
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "config"], command
            assert argv[3] in {"worker", "beat"}, command
        elif argv[:2] == ["python", "manage.py"]:
            assert argv[2] in commands, f"{name}: unknown management command {argv[2]}"
        else:
            pytest.fail(f"{name}: unexpected command {command}")
    assert (ROOT / services["web"]["build"]["dockerfile"] if isinstance(services["web"].get("build"), dict)
            else ROOT / "Dockerfile").exists()


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400_everywhere(marketplace_client):
    body = b"[" * 50000 + b"]" * 50000
    response = marketplace_client.post("/internal/v1/providers", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_body_is_a_413_envelope(marketplace_client):
    body = b'{"code": "' + b"x" * 5000 + b'"}'
    response = marketplace_client.post("/internal/v1/providers", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
