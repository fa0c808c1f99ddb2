"""docker-compose.yml, .env.example and the proxy config agree with each other."""

import ipaddress
import re

import yaml

from config.testing.processes import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if re.match(r"^[A-Z_]+=", line))
    return dict(pairs)


def _one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


def test_every_service_has_a_restart_policy_and_a_healthcheck():
    # a one-shot job (restart "no") runs to completion: it has no healthcheck, and whoever needs it
    # waits for its success instead (storage-init below)
    missing = {name: [key for key in ("restart", "healthcheck") if key not in service]
               for name, service in SERVICES.items() if not _one_shot(service)}
    assert {name: keys for name, keys in missing.items() if keys} == {}
    awaited = {name for service in SERVICES.values() if isinstance(service.get("depends_on"), dict)
               for name, rule in service["depends_on"].items()
               if rule.get("condition") == "service_completed_successfully"}
    assert {name for name, service in SERVICES.items() if _one_shot(service)} == awaited == {"storage-init"}


def test_a_stopping_worker_has_time_to_finish_a_feed_drainer_and_its_call(settings):
    # a warm shutdown lets running tasks end; a drainer takes no new row after DELIVERY_FEED_SECONDS, and the call it
    # is in may last the connect and read timeouts (the whole answer must arrive within their sum)
    grace = SERVICES["worker"]["stop_grace_period"]
    assert grace.endswith("s")
    needed = settings.DELIVERY_FEED_SECONDS + settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT
    assert int(grace[:-1]) >= needed + 10


def test_attachments_go_to_the_s3_store_whose_bucket_exists_before_web_and_worker_start():
    store = SERVICES["s3"]
    # a maintained S3-compatible server (MinIO publishes no community images any more), with its data on a volume
    assert store["image"].startswith("chrislusf/seaweedfs:") and not store["image"].endswith(":latest")
    assert "-s3" in store["command"] and store["healthcheck"]["test"][-1] == "http://127.0.0.1:8333/healthz"
    assert any(volume.split(":")[0] in COMPOSE["volumes"] for volume in store["volumes"])
    assert "ports" not in store  # only nginx is published
    # the app processes point at it, with the store's own keys (secrets from the environment, dev defaults)
    for name in ("web", "worker", "storage-init"):
        env = SERVICES[name]["environment"]
        assert env["ATTACHMENTS_S3_ENDPOINT_URL"] == "${ATTACHMENTS_S3_ENDPOINT_URL:-http://s3:8333}", name
        assert env["ATTACHMENTS_S3_BUCKET"].startswith("${ATTACHMENTS_S3_BUCKET:-"), name
        assert env["ATTACHMENTS_S3_REGION"].startswith("${ATTACHMENTS_S3_REGION:-"), name
        assert env["ATTACHMENTS_S3_ACCESS_KEY"] == store["environment"]["AWS_ACCESS_KEY_ID"], name
        assert env["ATTACHMENTS_S3_SECRET_KEY"] == store["environment"]["AWS_SECRET_ACCESS_KEY"], name
        assert env["ATTACHMENTS_S3_SECRET_KEY"].startswith("${ATTACHMENTS_S3_SECRET_KEY:-"), name
    # the bucket step: the idempotent command, once the store is healthy; web and worker wait for its success
    init = SERVICES["storage-init"]
    assert init["command"] == ["python", "manage.py", "attachments_bucket_create"]
    assert init["depends_on"]["s3"] == {"condition": "service_healthy"}
    for name in ("web", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["storage-init"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == depends["redis"] == {"condition": "service_healthy"}, name


def test_only_the_proxy_is_published_and_the_app_trusts_exactly_its_address():
    published = sorted(name for name, service in SERVICES.items() if service.get("ports") and not service.get("profiles"))
    assert published == ["nginx"]
    # the optional monitoring profile publishes on loopback only
    for name, service in SERVICES.items():
        if service.get("profiles"):
            assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
    proxy = SERVICES["nginx"]["networks"]["default"]["ipv4_address"]
    for name in ("web", "worker", "beat", "telegram-bot", "vk-bot"):
        assert SERVICES[name]["environment"]["TRUSTED_PROXIES"] == proxy, name
    assert _env_example()["TRUSTED_PROXIES"] == proxy
    # and the address is outside the range Docker hands out, so no other container can take it
    ipam = COMPOSE["networks"]["default"]["ipam"]["config"][0]
    assert ipaddress.ip_address(proxy) in ipaddress.ip_network(ipam["subnet"])
    assert ipaddress.ip_address(proxy) not in ipaddress.ip_network(ipam["ip_range"])


def test_the_retired_proxy_count_is_nowhere():
    for path in ("docker-compose.yml", ".env.example"):
        text = (ROOT / path).read_text()
        assert not re.search(r"^\s*INTERNAL_API_TRUSTED_PROXY_COUNT\s*[=:]", text, re.M), path


def test_the_proxy_config_mounted_by_compose_is_the_tested_one():
    mount = SERVICES["nginx"]["volumes"][0].split(":")[0]
    assert (ROOT / mount).resolve() == (ROOT / "deploy/nginx/default.conf.template").resolve()
    assert "gunicorn.conf.py" in SERVICES["web"]["command"]
