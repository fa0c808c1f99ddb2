"""State of the bot dialogues: processed updates (dedup) and pending binding confirmations."""

from django.db import models

from notifications.models import BindingService, BindingToken


class ProcessedUpdate(models.Model):
    """A Telegram `update_id` / VK `event_id` already handled; a repeat is ignored."""

    service = models.CharField("сервис", max_length=16, choices=BindingService.choices)
    update_id = models.CharField("id обновления", max_length=64)
    created_at = models.DateTimeField("обработано", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "обработанное обновление"
        verbose_name_plural = "обработанные обновления"
        constraints = [models.UniqueConstraint(fields=["service", "update_id"], name="bots_update_once")]

    def __str__(self):
        return f"{self.service}:{self.update_id}"


class PendingBinding(models.Model):
    """A binding the bot asked a messenger account to confirm.

    The buttons carry only `nonce`; the token and the account stay here, so button data
    is short (Telegram: ≤ 64 bytes) and cannot bind another account: a press is accepted
    only from the account the question was sent to. One row per account: a new /start
    with another token replaces the question.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Ожидает подтверждения"
        CONFIRMED = "confirmed", "Подтверждена"
        CANCELLED = "cancelled", "Отменена"
        FAILED = "failed", "Ссылка недействительна"

    service = models.CharField("сервис", max_length=16, choices=BindingService.choices)
    account_id = models.CharField("id аккаунта в сервисе", max_length=64)
    nonce = models.CharField("код кнопок", max_length=32, unique=True)
    token = models.ForeignKey(BindingToken, verbose_name="токен привязки", on_delete=models.CASCADE,
                              related_name="+")
    status = models.CharField("статус", max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "запрос подтверждения привязки"
        verbose_name_plural = "запросы подтверждения привязки"
        constraints = [models.UniqueConstraint(fields=["service", "account_id"], name="bots_pending_one_per_account")]

    def __str__(self):
        return f"{self.get_service_display()} {self.account_id}: {self.get_status_display()}"
