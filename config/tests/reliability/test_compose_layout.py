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


def test_every_service_has_a_restart_policy_and_a_healthcheck():
    missing = {name: [key for key in ("restart", "healthcheck") if key not in service]
               for name, service in SERVICES.items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}


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
