"""The moderators' Django group (created by migration platform.0001_moderators_group)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

MODERATORS_GROUP = "moderators"


def moderator_ensure(*, username: str, password: str | None = None):
    """A staff user in the moderators group (idempotent); the password is set when given."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = True
    if password:
        user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    return user
