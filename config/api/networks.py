"""Network allow-list for the internal API (`/internal/`).

`INTERNAL_API_ALLOWED_NETWORKS` is a list of CIDRs (`10.0.0.0/8,192.168.1.5/32`); empty means
every network may call (authentication still applies). The client address is `REMOTE_ADDR`;
behind N trusted reverse proxies set `INTERNAL_API_TRUSTED_PROXY_COUNT=N` and the address is
the N-th entry from the right of `X-Forwarded-For` (the one the outermost proxy saw).
"""

import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.http import JsonResponse

from config.api.errors import envelope

logger = logging.getLogger(__name__)
INTERNAL_PREFIX = "/internal/"


@lru_cache(maxsize=8)
def _networks(raw: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in raw if cidr.strip())


def client_address(request) -> str:
    proxies = getattr(settings, "INTERNAL_API_TRUSTED_PROXY_COUNT", 0)
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def address_allowed(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class InternalNetworkMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(INTERNAL_PREFIX):
            networks = _networks(tuple(getattr(settings, "INTERNAL_API_ALLOWED_NETWORKS", ())))
            address = client_address(request)
            if networks and not address_allowed(address, networks):
                logger.warning("internal API call from a network outside the allow-list: %s %s", address,
                               request.path)
                return JsonResponse(envelope("network_not_allowed", "Внутренний API недоступен из этой сети."),
                                    status=403)
        return self.get_response(request)
