"""`/metrics`: Prometheus text format, only for INTERNAL_API_ALLOWED_NETWORKS (loopback when the list is
empty) and, when METRICS_BEARER_TOKEN is set, only with `Authorization: Bearer <token>`."""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from config.api.networks import address_allowed, client_address
from config.errors import envelope
from config.observability.collectors import OperationsCollector
from config.observability.exporter import registry_for_scrape

logger = logging.getLogger(__name__)
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _networks():
    configured = getattr(settings, "INTERNAL_API_ALLOWED_NETWORKS", ())
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in configured if c.strip()) or LOOPBACK


def _token_ok(request) -> bool:
    expected = getattr(settings, "METRICS_BEARER_TOKEN", "")
    if not expected:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), expected.encode())


class _Process:
    """The process (or multiprocess) metrics as one collector of the per-scrape registry."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.collect()


def metrics(request):
    address = client_address(request)
    if not address_allowed(address, _networks()):
        logger.warning("metrics scrape refused from %s", address)
        return JsonResponse(envelope("network_not_allowed", "Метрики недоступны из этой сети."), status=403)
    if not _token_ok(request):
        return JsonResponse(envelope("not_authenticated", "Нужен токен метрик (Authorization: Bearer)."), status=401)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process(registry_for_scrape()))
    registry.register(OperationsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
