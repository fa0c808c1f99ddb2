"""The test stand: conformance runs of a provider configuration against a sandbox tenant.

See docs/test-stand.md for the checks, the verdicts and how a provider fixes a failure.
"""

import uuid

from django.conf import settings
from django.db import models

from .deliveries import Delivery
from .providers import Provider, ProviderConfiguration

__all__ = ["ConformanceCheck", "ConformanceRun", "SandboxTenant"]

# Sandbox tenant ids are uuid5(SANDBOX_NAMESPACE, provider code): fixed per provider, never a real tenant.
SANDBOX_NAMESPACE = uuid.UUID("5b3c8f0e-7d2a-4e61-9c1f-0a7e5d2b9c44")


class SandboxTenant(models.Model):
    """The tenant a provider's conformance runs act for. Created by the test stand, used only by it."""

    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, related_name="sandbox_tenant",
                                    verbose_name="провайдер")
    tenant_id = models.UUIDField("тенант песочницы", unique=True, editable=False)
    created_at = models.DateTimeField("создан", auto_now_add=True)

    class Meta:
        verbose_name = "тенант песочницы"
        verbose_name_plural = "тенанты песочницы"

    def __str__(self) -> str:
        return f"{self.provider.code}: {self.tenant_id}"


class ConformanceRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "В очереди"
        RUNNING = "running", "Выполняется"
        PASSED = "passed", "Пройден"
        FAILED = "failed", "Не пройден"
        INTERRUPTED = "interrupted", "Прерван"

    class Origin(models.TextChoices):
        DEVELOPER = "developer", "Разработчик (API маркетплейса)"
        MODERATOR = "moderator", "Модератор (админка)"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="conformance_runs",
                                 verbose_name="провайдер")
    configuration = models.ForeignKey(ProviderConfiguration, on_delete=models.CASCADE,
                                      related_name="conformance_runs", verbose_name="конфигурация")
    app_version = models.CharField("версия приложения", max_length=64)
    sandbox_tenant_id = models.UUIDField("тенант песочницы")
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.QUEUED)
    origin = models.CharField("кто запустил", max_length=20, choices=Origin.choices)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name="пользователь")
    summary = models.TextField("итог", blank=True)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    started_at = models.DateTimeField("начат", null=True, blank=True)
    finished_at = models.DateTimeField("завершён", null=True, blank=True)
    # The engine's row that executes the run (lease, restart after a dead worker).
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 verbose_name="доставка (движок)")

    class Meta:
        verbose_name = "прогон тестового стенда"
        verbose_name_plural = "прогоны тестового стенда"
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("configuration", "-created_at"), name="conformance_run_latest_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.provider.code} {self.app_version} ({self.get_status_display()})"

    @property
    def passed(self) -> bool:
        return self.status == self.Status.PASSED


class ConformanceCheck(models.Model):
    """One call of a provider endpoint in a run: what was sent, what came back, the verdict."""

    class Verdict(models.TextChoices):
        OK = "ok", "Пройдено"
        UNREACHABLE = "unreachable", "Эндпоинт недоступен"
        TLS_ERROR = "tls_error", "Ошибка TLS"
        BAD_STATUS = "bad_status", "Ответ не 2xx"
        CONTRACT_VIOLATION = "contract_violation", "Ответ не соответствует контракту"
        TIMEOUT = "timeout", "Превышен таймаут"
        NOT_IDEMPOTENT = "not_idempotent", "Нет идемпотентности"
        REDIRECT = "redirect", "Перенаправление"

    run = models.ForeignKey(ConformanceRun, on_delete=models.CASCADE, related_name="checks", verbose_name="прогон")
    position = models.PositiveSmallIntegerField("№")
    endpoint = models.CharField("эндпоинт", max_length=100)
    is_repeat = models.BooleanField("повтор (идемпотентность)", default=False)
    request_url = models.CharField("URL", max_length=2048)
    request_headers = models.JSONField("заголовки запроса", default=dict)
    request_body = models.JSONField("тело запроса", default=dict)
    idempotency_key = models.CharField("Idempotency-Key", max_length=64)
    response_status = models.PositiveSmallIntegerField("код ответа", null=True, blank=True)
    response_headers = models.JSONField("заголовки ответа", default=dict, blank=True)
    response_excerpt = models.TextField("фрагмент ответа", blank=True)
    latency_ms = models.PositiveIntegerField("время ответа, мс", null=True, blank=True)
    verdict = models.CharField("вердикт", max_length=32, choices=Verdict.choices)
    reason = models.TextField("причина")
    created_at = models.DateTimeField("выполнена", auto_now_add=True)

    class Meta:
        verbose_name = "проверка эндпоинта"
        verbose_name_plural = "проверки эндпоинтов"
        ordering = ("run", "position")
        constraints = [models.UniqueConstraint(fields=("run", "position"), name="uniq_conformance_check_position")]

    def __str__(self) -> str:
        return f"{self.endpoint}{' (повтор)' if self.is_repeat else ''}: {self.verdict}"

    @property
    def passed(self) -> bool:
        return self.verdict == self.Verdict.OK
