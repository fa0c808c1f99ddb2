"""Per-token rate limit: 429 with Retry-After in the envelope, shared by every process through Redis."""

import subprocess
import sys

import pytest
from rest_framework.throttling import SimpleRateThrottle

from config.testing.processes import ROOT, subprocess_env

LIMIT = 10


@pytest.fixture
def limit_of_ten(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": f"{LIMIT}/min", "anon": "1000/min"})


def test_over_the_limit_answers_429_with_retry_after_and_envelope(world, limit_of_ten):
    # given: one provider token used up to its limit
    a_x, b_x = world.client("integration:A-X"), world.client("integration:B-X")
    assert [a_x.get("/api/v1/webhooks").status_code for _ in range(LIMIT)] == [200] * LIMIT
    # when
    response = a_x.get("/api/v1/webhooks")
    # then
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    assert response.json()["error"]["retry_after"] >= int(response["Retry-After"])
    # and the limit is per token: another tenant's token is not affected
    assert b_x.get("/api/v1/webhooks").status_code == 200


def test_service_and_developer_tokens_are_limited_too(world, limit_of_ten):
    for principal, path in (("service:crm", f"/internal/v1/integration-tokens?tenantId={world.integrations['A-X'].tenant_id}"),
                            ("developer:dev-1", "/internal/v1/marketplace/apps")):
        client = world.client(principal)
        codes = [client.get(path).status_code for _ in range(LIMIT + 1)]
        assert codes == [200] * LIMIT + [429], (principal, codes)


SECOND_PROCESS = """
import json, sys, django
django.setup()
from django.test import Client
client = Client(headers={"Authorization": "Bearer " + sys.argv[1]})
print(json.dumps([client.get("/api/v1/webhooks").status_code for _ in range(int(sys.argv[2]))]))
"""


@pytest.mark.slow  # real processes; `make test-fast` leaves it out
@pytest.mark.integration
def test_the_limit_is_shared_by_separate_processes_through_redis(transactional_db, settings, limit_of_ten):
    from .callers import world_build

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    world = world_build()
    token = world.tokens["integration:A-X"]
    # given: this process spends 6 of the 10 requests
    a_x = world.client("integration:A-X")
    assert [a_x.get("/api/v1/webhooks").status_code for _ in range(6)] == [200] * 6
    # when: another process (its own Django, its own cache client) with the same limit sends 6 more
    env = subprocess_env(REDIS_URL=settings.CACHES["default"]["LOCATION"], THROTTLE_RATE_PRINCIPAL=f"{LIMIT}/min",
                         ALLOWED_HOSTS="testserver")
    result = subprocess.run([sys.executable, "-c", SECOND_PROCESS, token, "6"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # then: it gets only the 4 that were left, and this process is over the limit as well
    assert result.stdout.strip().splitlines()[-1] == "[200, 200, 200, 200, 429, 429]"
    assert a_x.get("/api/v1/webhooks").status_code == 429
