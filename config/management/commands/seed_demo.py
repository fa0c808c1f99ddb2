"""Idempotent demo data for `make run`: a superuser and the service accounts."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.management.commands.create_service_account import ROLES, service_account_ensure
from config.moderators import moderator_ensure


class Command(BaseCommand):
    help = "Загружает демонстрационные данные (идемпотентно)."

    def handle(self, *args, **options):
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        User = get_user_model()
        admin, created = User.objects.get_or_create(username=username, defaults={"email": "admin@sbercrm.local"})
        if created:
            admin.set_password(password)
        admin.is_staff = admin.is_superuser = True
        admin.save()
        moderator = os.environ.get("DEMO_MODERATOR_USERNAME", "moderator")
        new_moderator = not User.objects.filter(username=moderator).exists()
        moderator_ensure(username=moderator, password=moderator if new_moderator else None)
        for role in ROLES:
            service_account_ensure(username=f"svc-{role}", role=role, password=f"svc-{role}-demo")
        self.stdout.write(self.style.SUCCESS(
            f"Суперпользователь: {username} / {password if created else '(пароль не менялся)'}\n"
            f"Модератор (группа moderators): {moderator} / {moderator if new_moderator else '(пароль не менялся)'}\n"
            "Сервисные учётные записи: " + ", ".join(f"svc-{r} / svc-{r}-demo" for r in ROLES)
        ))
