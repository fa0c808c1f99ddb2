import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from config.testing.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_provider():
    with FakeProvider() as fake:
        yield fake


def make_tenant_configuration(fake: FakeProvider, *, code: str | None = None, endpoints: dict | None = None):
    from communications.models import Provider, ProviderConfiguration, TenantConfiguration

    code = code or f"prov-{uuid.uuid4().hex[:8]}"
    provider = Provider.objects.create(code=code, label=f"Провайдер {code}")
    configuration = ProviderConfiguration.objects.create(
        provider=provider, app_code=code, app_version="1.0.0", configuration_version="1.0.0",
        provider_label=provider.label, endpoints=endpoints if endpoints is not None else fake.endpoints(),
        auth_header="X-API-Key", auth_key="api-key-of-the-provider-1234",
    )
    return TenantConfiguration.objects.create(tenant_id=uuid.uuid4(), provider=provider,
                                              configuration=configuration, app_version="1.0.0")


@pytest.fixture
def tenant_configuration(db, fake_provider):
    return make_tenant_configuration(fake_provider)


@pytest.fixture
def fast_retries(settings):
    """Seconds instead of hours, no jitter, loopback allowed: the fake listens on 127.0.0.1."""
    settings.DELIVERY_RETRY_SCHEDULE = [0.2] * 9
    settings.DELIVERY_RETRY_JITTER = 0
    settings.DELIVERY_SWEEP_GRACE = 0
    settings.PROVIDER_ALLOW_LOOPBACK = True
    settings.PROVIDER_READ_TIMEOUT = 3
    return settings


def subprocess_env(**extra: str) -> dict:
    """Environment for a child Django process sharing this test database and Redis DB."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "PROVIDER_ALLOW_LOOPBACK": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.update(extra)
    return env


def start_worker_process(env: dict, queue: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue, "-l", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_worker_processes(workers: list[subprocess.Popen]) -> None:
    """Terminate the worker processes a test started (kill those that do not stop within 15 s)."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
