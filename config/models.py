"""Platform-wide models (app label `platform`)."""

from django.conf import settings
from django.db import models


class TokenVersion(models.Model):
    """The version a user's JWTs must carry (claim `tv`). No row: version 0.

    A password change, deactivation or removal from a group moves it on (config/auth.py),
    which ends every access and refresh token issued before."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="token_version", verbose_name="пользователь")
    version = models.PositiveIntegerField("версия токенов", default=0)
    changed_at = models.DateTimeField("изменена", auto_now=True)

    class Meta:
        verbose_name = "версия токенов пользователя"
        verbose_name_plural = "версии токенов пользователей"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.version}"
