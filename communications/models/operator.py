"""Operator writes made with an `Idempotency-Key` (docs/reliability-and-security.md)."""

from django.conf import settings
from django.db import models

__all__ = ["OperatorRequest"]


class OperatorRequest(models.Model):
    """One key of one caller: the request it was first used for and the answer given.

    Written in the transaction of the action itself, so the key exists exactly when the
    action's rows (message, deliveries) do."""

    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                               verbose_name="вызывающий")
    key = models.CharField("Idempotency-Key", max_length=255)
    fingerprint = models.CharField("отпечаток запроса", max_length=64, help_text="SHA-256 метода, пути и тела")
    status_code = models.PositiveSmallIntegerField("код ответа")
    response = models.TextField("тело ответа (JSON)", help_text="как было отдано: повтор получает те же байты")
    created_at = models.DateTimeField("создан", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "операторский запрос с ключом идемпотентности"
        verbose_name_plural = "операторские запросы с ключами идемпотентности"
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="operator_request_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
