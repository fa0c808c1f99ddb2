from django.db import transaction

from notifications.auth import RecipientToken
from notifications.models import Recipient


@transaction.atomic
def recipient_upsert(*, recipient_id, role: str, email: str = "", name: str = "") -> tuple[Recipient, bool]:
    """Create or update the recipient mirrored from an internal service. Returns (recipient, created)."""
    recipient, created = Recipient.objects.select_for_update().get_or_create(
        pk=recipient_id, defaults={"role": role, "email": email, "name": name})
    if not created:
        recipient.role, recipient.email, recipient.name = role, email, name
        recipient.save(update_fields=["role", "email", "name", "updated_at"])
    return recipient, created


def recipient_token_issue(*, recipient: Recipient) -> RecipientToken:
    """A user token (JWT, claim `recipient_id`) the mobile app uses for /notifications/subscribe."""
    return RecipientToken.for_recipient(recipient)
