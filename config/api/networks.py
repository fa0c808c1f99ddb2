"""Network allow-list for the internal API (`/internal/`).

`INTERNAL_API_ALLOWED_NETWORKS` is a list of CIDRs (`10.0.0.0/8,192.168.1.5/32`); empty means
every network may call (authentication still applies).

`client_address` is the one answer to "who is calling" (the fence, the anonymous throttle, the
login lockout): `REMOTE_ADDR`, unless that is one of `TRUSTED_PROXIES` (our nginx); then
`X-Forwarded-For` is read from the right, skipping our own proxies, and the first other entry
is the client. A header sent by anyone else is ignored.
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
    address = request.META.get("REMOTE_ADDR", "")
    proxies = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    if not proxies or not address_allowed(address, proxies):
        return address
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for entry in reversed(forwarded):
        if not address_allowed(entry, proxies):
            return entry  # the first hop our proxies did not add; garbage here stays garbage (not an address)
    return address


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
