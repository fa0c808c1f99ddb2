"""HTML email with a text alternative and RFC 8058 one-click unsubscribe.

The text part is the spec format (`message`; subject `{subject} | {type}`). The HTML part comes from
`templates/notifications/email/<role>.html`. Non-mandatory types carry `List-Unsubscribe` (a signed
link, no login) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; a POST to it mutes that type
over email. The token is signed with SECRET_KEY (salted), so it can't be forged or pointed at someone
else; it does not expire, because old emails must keep working.
"""

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from notifications.models import Notification, NotificationType
from notifications.rules import MANDATORY_TYPES, Rendered

SALT = "notifications.email-unsubscribe"


def unsubscribe_token(*, recipient_id, type: str) -> str:
    return signing.dumps({"r": str(recipient_id), "t": type}, salt=SALT)


def unsubscribe_token_read(token: str) -> tuple[str, str]:
    """(recipient_id, type); raises signing.BadSignature for a forged or damaged token."""
    data = signing.loads(token, salt=SALT)
    if not isinstance(data, dict) or not isinstance(data.get("r"), str) or data.get("t") not in NotificationType.values:
        raise signing.BadSignature("unexpected payload")
    return data["r"], data["t"]


def unsubscribe_url(*, recipient_id, type: str) -> str | None:
    if type in MANDATORY_TYPES:
        return None
    path = reverse("notifications-unsubscribe", kwargs={"token": unsubscribe_token(recipient_id=recipient_id,
                                                                                    type=type)})
    return settings.NOTIFICATIONS_PUBLIC_URL + path


def email_message_build(*, notification_id, to: list[str], rendered: Rendered, headers: dict,
                        connection) -> EmailMultiAlternatives:
    """The email for a notification row; a plain text email when the row is unknown."""
    headers = dict(headers)
    notification = Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    html = None
    if notification is not None:
        url = unsubscribe_url(recipient_id=notification.recipient_id, type=notification.type)
        if url:
            headers["List-Unsubscribe"] = f"<{url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        html = render_to_string(f"notifications/email/{notification.recipient.role}.html", {
            "title": rendered.title, "subject": notification.subject, "message": notification.message,
            "type_label": NotificationType(notification.type).label, "unsubscribe_url": url,
            "notification_id": notification.pk,
        })
    message = EmailMultiAlternatives(subject=rendered.title, body=rendered.body, to=to, headers=headers,
                                     connection=connection)
    if html:
        message.attach_alternative(html, "text/html")
    return message
