"""The one-click unsubscribe page (RFC 8058): no login, the signed token is the authorisation.

GET shows a confirmation form and changes nothing (mail scanners prefetch links); POST — from the
form or from the mail client's one-click button (`List-Unsubscribe=One-Click`) — mutes the type
over email. Every accepted POST is logged; a changed preference is also a PreferenceChange row.
"""

import logging

from django.core import signing
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from config.errors import ApplicationError
from notifications.emails import unsubscribe_token_read
from notifications.models import NotificationType, PreferenceSource, Recipient, Service
from notifications.services.preferences import PreferenceChangeRequest, preferences_set

logger = logging.getLogger(__name__)
INVALID = "Ссылка для отписки недействительна. Откройте её из письма целиком или измените настройки уведомлений."
GONE = "Получатель не найден."
TEMPLATE = "notifications/unsubscribe.html"


@csrf_exempt  # the mail client's one-click POST carries no CSRF token; the signed token authorises it
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    try:
        recipient_id, type = unsubscribe_token_read(token)
    except signing.BadSignature:
        logger.warning("email unsubscribe: invalid token refused")
        return render(request, TEMPLATE, {"error": INVALID}, status=400)
    recipient = Recipient.objects.filter(pk=recipient_id).first()
    if recipient is None:
        return render(request, TEMPLATE, {"error": GONE}, status=404)
    context = {"type_label": NotificationType(type).label}
    if request.method == "GET":
        return render(request, TEMPLATE, context)
    try:
        changed = preferences_set(recipient=recipient, source=PreferenceSource.EMAIL,
                                  changes=[PreferenceChangeRequest(type, Service.EMAIL, False)])
    except ApplicationError as exc:  # a mandatory type, or one the role no longer receives
        return render(request, TEMPLATE, {"error": exc.message}, status=400)
    logger.info("email unsubscribe: recipient %s, type %s (%s)", recipient.pk, type,
                "muted" if changed else "already muted")
    return render(request, TEMPLATE, {**context, "done": True})
