from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from config.api.permissions import SERVICE_CRM, SERVICE_MARKETPLACE, SERVICE_NOTIFICATIONS
from config.auth import tokens_for_user

ROLES = {"marketplace": SERVICE_MARKETPLACE, "crm": SERVICE_CRM, "notifications": SERVICE_NOTIFICATIONS}


def service_account_ensure(*, username: str, role: str, password: str | None = None):
    """Create (or update) a service account in its role's group. Idempotent."""
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=username)
        if password and not user.check_password(password):  # the same password again revokes nothing
            user.set_password(password)
        elif not user.has_usable_password():
            user.set_unusable_password()
        user.is_active = True
        user.save()
        group, _ = Group.objects.get_or_create(name=ROLES[role])
        user.groups.add(group)
    return user


class Command(BaseCommand):
    help = "Создаёт сервисную учётную запись (marketplace, crm, notifications) и печатает её JWT."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(ROLES), required=True)
        parser.add_argument("--password", help="пароль для /api/auth/token/ (необязательно)")
        parser.add_argument("--print-token", action="store_true", help="напечатать refresh/access JWT")

    def handle(self, *args, username, role, password, print_token, **options):
        user = service_account_ensure(username=username, role=role, password=password)
        self.stdout.write(f"service account {user.username} in {ROLES[role]}")
        if print_token:
            refresh = tokens_for_user(user)
            self.stdout.write(f"refresh: {refresh}\naccess: {refresh.access_token}")
