"""The outbox of calls to providers and webhooks.

A Delivery row is written in the same transaction as the change that caused
it; a Celery task delivers it by id and records every attempt. See
docs/provider-calls.md for the retry schedule, headers and ordering rules.
"""

import uuid

from django.db import models
from django.db.models import Q

from .providers import Provider, ProviderConfiguration, TenantConfiguration

__all__ = ["Delivery", "DeliveryAttempt", "ProviderDeliveryHealth", "ProviderSigningSecret"]


class Delivery(models.Model):
    class Kind(models.TextChoices):
        PROVIDER = "provider", "Эндпоинт провайдера"
        WEBHOOK = "webhook", "Вебхук"
        # Status events of the notification service to the calling service's callback_url (no tenant, no provider).
        CALLBACK = "callback", "Событие статуса уведомления"
        # One send of a notification to one channel (email, push, Telegram, VK); the history row is
        # `notifications.Notification`, whose status mirrors this one.
        NOTIFICATION = "notification", "Отправка уведомления"
        # One getMessageHistory page of an initial sync (`communications.InitialSync` is the summary).
        SYNC_PAGE = "sync_page", "Страница первичной синхронизации"
        # The import of a fetched page (`communications.InitialSyncPage`): pages of one sync load in parallel.
        SYNC_IMPORT = "sync_import", "Загрузка страницы первичной синхронизации"
        # One test-stand run (`communications.ConformanceRun` holds its verdict and checks).
        TESTSTAND_RUN = "teststand_run", "Прогон тестового стенда"
        # Download of an attachment given by URL (`communications.Attachment.fetch`).
        ATTACHMENT_FETCH = "attachment_fetch", "Загрузка вложения по URL"

    class Status(models.TextChoices):
        PENDING = "pending", "Ожидает отправки"
        IN_PROGRESS = "in_progress", "Отправляется"
        DELIVERED = "delivered", "Доставлена"
        DEAD = "dead", "Не доставлена"
        REFUSED = "refused", "Отклонена получателем"
        # It may have arrived and the receiver cannot drop a repeat (Telegram, email): never re-sent on its own.
        UNKNOWN = "unknown", "Неизвестно (возможно доставлена)"
        CANCELLED = "cancelled", "Отменена"

    # Statuses after which the row is never sent again on its own.
    FINAL_STATUSES = (Status.DELIVERED, Status.DEAD, Status.REFUSED, Status.UNKNOWN, Status.CANCELLED)
    # Statuses that release the next delivery of the same ordering key. A refusal (4xx) is the
    # receiver's final answer: calls that depend on the refused one are cancelled, the rest go on.
    # A dead delivery (attempts exhausted on transient failures) does NOT release it.
    RELEASING_STATUSES = (Status.DELIVERED, Status.REFUSED, Status.UNKNOWN, Status.CANCELLED)

    kind = models.CharField("тип получателя", max_length=20, choices=Kind.choices, default=Kind.PROVIDER)
    tenant_id = models.UUIDField("тенант", db_index=True, null=True, blank=True)  # empty for callbacks
    # empty for callbacks; no index of its own: delivery_provider_recent_idx leads with it
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="deliveries", null=True,
                                 blank=True, verbose_name="провайдер", db_index=False)
    tenant_configuration = models.ForeignKey(TenantConfiguration, null=True, blank=True, on_delete=models.SET_NULL,
                                             related_name="deliveries", verbose_name="конфигурация тенанта")
    # The configuration bound to the tenant when the call was created: URL and API key come from it.
    configuration = models.ForeignKey(ProviderConfiguration, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="deliveries", verbose_name="версия конфигурации")
    endpoint = models.CharField("эндпоинт / событие", max_length=100)  # indexed with the tenant: delivery_endpoint_idx
    url = models.URLField("URL", max_length=2048)
    payload = models.JSONField("тело запроса", default=dict, blank=True)
    # Webhook deliveries are signed with the webhook's own secret (provider calls use ProviderSigningSecret).
    signing_secret = models.CharField("секрет подписи вебхука", max_length=128, blank=True, editable=False)
    idempotency_key = models.UUIDField("ключ идемпотентности", default=uuid.uuid4, unique=True, editable=False)
    ordering_key = models.CharField("ключ порядка (чат)", max_length=255, blank=True)
    on_delivered = models.CharField("обработчик ответа", max_length=100, blank=True)
    # Observability (issue 20): the X-Request-Id of the API request that caused the call, sent on to the provider.
    request_id = models.CharField("id запроса (X-Request-Id)", max_length=128, blank=True, editable=False)

    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.PENDING)
    # Attempted by the process that answers the API request (a synchronous notification send): no
    # Celery retries; the sweeper takes it only once that process is surely gone.
    synchronous = models.BooleanField("синхронная", default=False)
    attempts = models.PositiveIntegerField("попыток в текущем цикле", default=0)
    # Indexed with the status (delivery_due_idx): a plain index on it led the sweep through every final row.
    next_attempt_at = models.DateTimeField("следующая попытка")
    lease_expires_at = models.DateTimeField("аренда попытки до", null=True, blank=True)
    swept_at = models.DateTimeField("последний перезапуск сборщиком", null=True, blank=True)
    last_error = models.TextField("последняя ошибка", blank=True)
    response_status = models.PositiveSmallIntegerField("код ответа", null=True, blank=True)
    response_excerpt = models.TextField("фрагмент ответа", blank=True)
    response_json = models.JSONField("ответ (JSON)", null=True, blank=True)
    provider_message_id = models.CharField("id сообщения у провайдера", max_length=255, blank=True)

    created_at = models.DateTimeField("создана", auto_now_add=True)
    updated_at = models.DateTimeField("изменена", auto_now=True)
    delivered_at = models.DateTimeField("доставлена", null=True, blank=True)

    class Meta:
        verbose_name = "доставка"
        verbose_name_plural = "журнал доставок"
        ordering = ("-id",)
        indexes = [
            models.Index(fields=("status", "next_attempt_at"), name="delivery_due_idx"),
            models.Index(fields=("kind", "tenant_id", "provider", "ordering_key", "id"), name="delivery_chain_idx",
                         condition=~Q(ordering_key="")),
            models.Index(fields=("provider", "created_at"), name="delivery_provider_recent_idx"),
            # Issue 19: the chain check and "next of the chain" read only rows that still hold their chain,
            # however many delivered rows the chain has behind it.
            models.Index(fields=("kind", "tenant_id", "provider", "ordering_key", "id"), name="delivery_chain_open_idx",
                         condition=~Q(ordering_key="") & ~Q(status__in=("delivered", "refused", "unknown", "cancelled"))),
            # Issue 19: a claim's farewell check (`disconnect` queued for the tenant after this row) reaches the
            # tenant's own farewells, not every tenant's; an endpoint filter still has the endpoint first.
            models.Index(fields=("endpoint", "tenant_id", "provider", "id"), name="delivery_endpoint_idx"),
            # Issue 19: the retention job takes the oldest final rows first.
            models.Index(fields=("updated_at",), name="delivery_final_age_idx",
                         condition=Q(status__in=("delivered", "dead", "refused", "unknown", "cancelled"))),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.endpoint} → {self.provider_id or self.url} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "Успех"
        RETRY = "retry", "Ошибка, будет повтор"
        FAILED = "failed", "Ошибка без повтора"
        REFUSED = "refused", "Отказ получателя (4xx)"
        INTERRUPTED = "interrupted", "Прервана (воркер не завершил)"
        UNKNOWN = "unknown", "Возможно доставлена (не повторяется)"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log",
                                 verbose_name="доставка")
    number = models.PositiveIntegerField("номер попытки")
    started_at = models.DateTimeField("начало")
    outcome = models.CharField("итог", max_length=20, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField("код ответа", null=True, blank=True)
    latency_ms = models.PositiveIntegerField("время ответа, мс", null=True, blank=True)
    error = models.TextField("ошибка", blank=True)

    class Meta:
        verbose_name = "попытка доставки"
        verbose_name_plural = "попытки доставки"
        ordering = ("delivery", "started_at")
        indexes = [models.Index(fields=("started_at",), name="delivery_attempt_started_idx")]

    def __str__(self) -> str:
        return f"#{self.delivery_id}/{self.number} {self.outcome}"


class ProviderSigningSecret(models.Model):
    """Standard Webhooks secret (`whsec_...`) we sign provider calls with.

    Shown to the provider once when issued. The plaintext must be stored:
    HMAC signing needs it. After a rotation the old secret keeps signing
    (a second signature) until `expires_at`, so the provider can switch over.
    """

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="signing_secrets",
                                 verbose_name="провайдер")
    secret = models.CharField("секрет", max_length=128, editable=False)
    created_at = models.DateTimeField("выпущен", auto_now_add=True)
    expires_at = models.DateTimeField("действует до", null=True, blank=True)

    class Meta:
        verbose_name = "секрет подписи провайдера"
        verbose_name_plural = "секреты подписи провайдеров"
        ordering = ("provider", "-created_at")

    def __str__(self) -> str:
        return f"{self.provider.code}: whsec_****{self.secret[-4:]}"


class ProviderDeliveryHealth(Provider):
    """Admin-only view of a provider: recent success rate and last error."""

    class Meta:
        proxy = True
        verbose_name = "здоровье провайдера"
        verbose_name_plural = "здоровье провайдеров"
