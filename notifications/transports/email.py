import smtplib

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME

from notifications.emails import email_message_build
from notifications.rules import Rendered
from notifications.transports.base import DeliveryError, Result, Target, Transport, register


@register
class EmailTransport(Transport):
    """Django's email backend (SMTP by default; django-anymail for an email service). HTML + text, see emails.py."""

    service = "email"
    not_linked_text = "У получателя нет email."
    SUBJECT_LIMIT = 998  # RFC 5322 line length

    def target(self, recipient) -> Target | None:
        return Target([recipient.email]) if recipient.email else None

    def render(self, *, role, subject, type, message) -> Rendered:
        return Rendered(title=f"{subject} | {type}", body=message)

    def limits(self, rendered):
        return [(rendered.title, self.SUBJECT_LIMIT, "тема письма")]

    def deactivate(self, recipient, addresses, *, reason):
        """A rejected address stays: the recipient's email is owned by the CRM, not by us."""

    def send(self, *, notification_id, target, rendered):
        message_id = make_msgid(idstring=str(notification_id), domain=DNS_NAME.get_fqdn())
        connection = get_connection(timeout=settings.NOTIFICATIONS_CHANNEL_TIMEOUT)
        message = email_message_build(
            notification_id=notification_id, to=target.addresses, rendered=rendered,
            headers={"Message-ID": message_id, "X-Notification-Id": str(notification_id)},
            connection=connection,
        )
        try:
            # Connecting is separate: a failure there surely sent nothing (transient).
            connection.open()
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP недоступен: {exc.__class__.__name__}: {exc}", permanent=False)
        except Exception as exc:  # other backends (django-anymail) raise their own API errors
            raise DeliveryError(f"Почтовый сервис: {exc.__class__.__name__}: {exc}", permanent=False)
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx at RCPT (greylisting, mailbox busy) is temporary; any 5xx makes it permanent.
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP отклонил адрес: {exc.recipients}", permanent=any(c >= 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            # An explicit refusal: 4xx is a temporary SMTP failure, 5xx a permanent one.
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # The server went silent or away mid-session: the message may have been accepted.
            raise DeliveryError(f"SMTP оборвал сеанс: {exc.__class__.__name__}: {exc}", permanent=False,
                                ambiguous=True)
        except Exception as exc:
            raise DeliveryError(f"Почтовый сервис: {exc.__class__.__name__}: {exc}", permanent=False)
        finally:
            connection.close()
        return Result(external_id=message_id)
