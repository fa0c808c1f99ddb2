"""The initial sync of a tenant's chat history from a provider (`getMessageHistory`).

One row per tenant + provider: the sync's summary (status, counts, cursor). Each page fetch is a
row of the delivery engine (`Delivery`, kind `sync_page`); importing a page advances the cursor in
the transaction that records its answer, so a crash loses at most the page in flight, and
re-importing a page creates nothing (unique external ids).
"""

from django.db import models

from .deliveries import Delivery
from .providers import Provider, TenantConfiguration

__all__ = ["InitialSync"]


class InitialSync(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Ожидает каналов (getChannels)"
        RUNNING = "running", "Выполняется"
        COMPLETED = "completed", "Завершена"
        FAILED = "failed", "Остановлена с ошибкой"
        CANCELLED = "cancelled", "Отменена (интеграция отключена)"

    ACTIVE_STATUSES = (Status.WAITING, Status.RUNNING)

    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="initial_syncs",
                                 verbose_name="провайдер")
    tenant_configuration = models.ForeignKey(TenantConfiguration, null=True, blank=True, on_delete=models.SET_NULL,
                                             related_name="initial_syncs", verbose_name="конфигурация тенанта")
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.WAITING)
    run = models.PositiveIntegerField("запуск №", default=1)
    cursor = models.CharField("курсор (следующая страница)", max_length=1000, blank=True)
    pages_done = models.PositiveIntegerField("страниц загружено", default=0)
    messages_seen = models.PositiveIntegerField("сообщений получено", default=0)
    messages_created = models.PositiveIntegerField("сообщений создано", default=0)
    items_failed = models.PositiveIntegerField("сообщений с ошибкой", default=0)
    # The engine's row of the page being fetched now (its attempts, next attempt, answer).
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 verbose_name="текущая страница (доставка)")
    last_error = models.TextField("последняя ошибка", blank=True)
    started_at = models.DateTimeField("начата", null=True, blank=True)
    finished_at = models.DateTimeField("закончена", null=True, blank=True)
    created_at = models.DateTimeField("создана", auto_now_add=True)
    updated_at = models.DateTimeField("изменена", auto_now=True)

    class Meta:
        verbose_name = "первичная синхронизация"
        verbose_name_plural = "первичные синхронизации"
        ordering = ("-updated_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider"), name="uniq_initial_sync_per_tenant_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.tenant_id} [{self.get_status_display()}]"
