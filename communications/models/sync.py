"""The initial sync of a tenant's chat history from a provider (`getMessageHistory`).

One row per tenant + provider: the sync's summary (status, counts, cursor). Each page fetch is a
row of the delivery engine (`Delivery`, kind `sync_page`), one after another; the answer is kept as an
`InitialSyncPage` until its import (a row of kind `sync_import`) has stored it, so the pages of one sync
are imported in parallel while the next ones are fetched. A crash loses at most the work in flight, and
re-importing a page creates nothing (unique external ids).
"""

from django.db import models

from .deliveries import Delivery
from .providers import Provider, TenantConfiguration

__all__ = ["InitialSync", "InitialSyncPage"]


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
    pages_fetched = models.PositiveIntegerField("страниц получено", default=0)
    # The `limit` of the next fetches once an answer was too big (halved); 0: INITIAL_SYNC_PAGE_SIZE.
    page_limit = models.PositiveIntegerField("limit страницы", default=0)
    pages_done = models.PositiveIntegerField("страниц загружено", default=0)
    # The provider's last page has arrived (no nextCursor, or no messages): the sync ends when every page is loaded.
    fetched_all = models.BooleanField("история получена целиком", default=False)
    messages_seen = models.PositiveIntegerField("сообщений получено", default=0)
    messages_created = models.PositiveIntegerField("сообщений создано", default=0)
    items_failed = models.PositiveIntegerField("сообщений с ошибкой", default=0)
    # The engine's row of the page being fetched now (its attempts, next attempt, answer); none while fetching
    # waits for the imports to catch up (INITIAL_SYNC_PAGES_AHEAD).
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


class InitialSyncPage(models.Model):
    """A fetched page whose import has not stored it yet: the provider's answer as received. Deleted by its
    import; kept while the sync waits to be resumed (the page is then imported again, not fetched again)."""

    sync = models.ForeignKey(InitialSync, on_delete=models.CASCADE, related_name="pages", verbose_name="синхронизация")
    run = models.PositiveIntegerField("запуск №")
    page = models.PositiveIntegerField("страница (с 0)")
    messages = models.PositiveIntegerField("сообщений")
    body = models.BinaryField("ответ getMessageHistory")
    storable = models.BooleanField("без текста, который БД не хранит", default=False)
    # The engine's row that imports it (kind `sync_import`); a resume gives the page a fresh one.
    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, related_name="+",
                                    verbose_name="загрузка (доставка)")
    created_at = models.DateTimeField("получена", auto_now_add=True)

    class Meta:
        verbose_name = "страница первичной синхронизации"
        verbose_name_plural = "страницы первичной синхронизации"
        constraints = [
            models.UniqueConstraint(fields=("sync", "run", "page"), name="uniq_initial_sync_page"),
        ]

    def __str__(self) -> str:
        return f"{self.sync_id}: {self.run}/{self.page}"
