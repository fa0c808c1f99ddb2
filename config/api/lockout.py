"""Login lockout answers (django-axes): a JSON envelope for the API, a Russian page for the admin.

Axes marks the request it authenticates. DRF authenticates with its own `Request`, which the
stock `AxesMiddleware` does not see; the middleware below also reads the DRF request kept in
the response's renderer context.
"""

import ipaddress

from axes.helpers import get_cool_off
from axes.middleware import AxesMiddleware
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

from config.api.errors import envelope
from config.api.networks import client_address

USERNAME_MAX = 150  # Django's username length; axes stores at most 255 characters

MESSAGE = "Вход временно заблокирован: слишком много неудачных попыток. Повторите через {minutes} мин."


def lockout_username(request, credentials=None) -> str | None:
    """The username counted by axes, cut to a storable length (a hostile one is still counted)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    else:
        username = getattr(request, "data", request.POST).get(field)
    return str(username)[:USERNAME_MAX] if username is not None else None


def lockout_client_ip(request) -> str:
    """The client address counted by axes; something that is not an address counts as the peer."""
    address = client_address(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return request.META.get("REMOTE_ADDR", "")
    return address


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    message = MESSAGE.format(minutes=max(1, seconds // 60)) if seconds else (
        "Вход заблокирован: слишком много неудачных попыток. Обратитесь к администратору.")
    headers = {"Retry-After": str(seconds)} if seconds else {}
    if request.path.startswith("/admin/"):
        page = f'<!doctype html><html lang="ru"><meta charset="utf-8"><title>SberCRM</title><p>{escape(message)}</p>'
        return HttpResponse(page, status=settings.AXES_HTTP_RESPONSE_CODE, headers=headers)
    return JsonResponse(envelope("login_locked", message), status=settings.AXES_HTTP_RESPONSE_CODE, headers=headers)


class LoginLockoutMiddleware(AxesMiddleware):
    def __call__(self, request):
        response = super().__call__(request)
        drf_request = getattr(response, "renderer_context", None) or {}
        drf_request = drf_request.get("request")
        if settings.AXES_ENABLED and drf_request is not None and getattr(drf_request, "axes_locked_out", False):
            return lockout_response(request, response, getattr(drf_request, "axes_credentials", None))
        return response
