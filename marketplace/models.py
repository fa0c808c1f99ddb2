"""Marketplace: provider companies (developer accounts), applications, versions, scopes, installations."""

import uuid

from django.conf import settings
from django.db import models

User = settings.AUTH_USER_MODEL


class ProviderCompany(models.Model):
    """A developer account: a company whose members (Django users) sign in with JWT."""

    name = models.CharField("название", max_length=255, unique=True)
    members = models.ManyToManyField(User, related_name="provider_companies", blank=True,
                                     verbose_name="разработчики")
    created_at = models.DateTimeField("создана", auto_now_add=True)
    # Every company has its own sandbox tenant: a tenant id no real SberCRM customer ever has.
    sandbox_tenant_id = models.UUIDField("тенант песочницы", default=uuid.uuid4, unique=True, editable=False)
    self_signed_up = models.BooleanField("зарегистрировалась сама", default=False, editable=False)
    is_blocked = models.BooleanField("заблокирована", default=False, editable=False,
                                     help_text="Токены участников перестают действовать сразу.")
    blocked_at = models.DateTimeField("заблокирована когда", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "компания-разработчик"
        verbose_name_plural = "компании-разработчики"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Scope(models.Model):
    """An access scope an app version can request. Rows come from data migrations."""

    COMMUNICATIONS = "communications"

    code = models.SlugField("код", max_length=64, unique=True)
    label = models.CharField("название", max_length=255)

    class Meta:
        verbose_name = "скоуп доступа"
        verbose_name_plural = "скоупы доступа"
        ordering = ("code",)

    def __str__(self) -> str:
        return self.label


class Application(models.Model):
    """An app in the marketplace; `code` is the immutable system name (= provider code)."""

    company = models.ForeignKey(ProviderCompany, on_delete=models.PROTECT, related_name="applications",
                                verbose_name="компания")
    code = models.SlugField("системное имя", max_length=100, unique=True,
                            help_text="Неизменяемо после создания; совпадает с кодом провайдера.")
    name = models.CharField("название", max_length=255)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name="создал")
    created_at = models.DateTimeField("создано", auto_now_add=True)

    class Meta:
        verbose_name = "приложение"
        verbose_name_plural = "приложения"
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class AppVersion(models.Model):
    class Moderation(models.TextChoices):
        DRAFT = "draft", "Черновик"
        PENDING = "pending", "На модерации"
        APPROVED = "approved", "Одобрена"
        REJECTED = "rejected", "Отклонена"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="versions",
                                    verbose_name="приложение")
    version = models.CharField("версия", max_length=64)
    scopes = models.ManyToManyField(Scope, through="AppVersionScope", related_name="versions", blank=True,
                                    verbose_name="скоупы")
    moderation_status = models.CharField("модерация", max_length=20, choices=Moderation.choices,
                                         default=Moderation.DRAFT)
    rejection_reason = models.TextField("причина отклонения", blank=True)
    provider_tested_at = models.DateTimeField("тест провайдера пройден", null=True, blank=True)
    provider_tested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                           verbose_name="тест провайдера подтвердил")
    sbercrm_tested_at = models.DateTimeField("тест SberCRM пройден", null=True, blank=True)
    sbercrm_tested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                          verbose_name="тест SberCRM подтвердил")
    sbercrm_tested_configuration = models.CharField(
        "конфигурация, проверенная SberCRM", max_length=64, blank=True,
        help_text="Версия конфигурации, активной при отметке; новая конфигурация требует новой отметки.")
    published_at = models.DateTimeField("опубликована", null=True, blank=True)
    created_at = models.DateTimeField("создана", auto_now_add=True)

    class Meta:
        verbose_name = "версия приложения"
        verbose_name_plural = "версии приложений"
        ordering = ("application", "-created_at")
        constraints = [models.UniqueConstraint(fields=("application", "version"), name="uniq_app_version")]

    def __str__(self) -> str:
        return f"{self.application.code} {self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class AppVersionScope(models.Model):
    """A scope enabled on a version. Rows for the communications scope are never deleted (service rule)."""

    version = models.ForeignKey(AppVersion, on_delete=models.CASCADE, related_name="scope_links",
                                verbose_name="версия")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="+", verbose_name="скоуп")
    enabled_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name="включил")
    enabled_at = models.DateTimeField("включён", auto_now_add=True)

    class Meta:
        verbose_name = "скоуп версии"
        verbose_name_plural = "скоупы версий"
        constraints = [models.UniqueConstraint(fields=("version", "scope"), name="uniq_version_scope")]

    def __str__(self) -> str:
        return f"{self.version} · {self.scope}"


class ModerationDecision(models.Model):
    """Audit trail: every moderation/testing/publishing decision with who and when."""

    class Action(models.TextChoices):
        SUBMITTED = "submitted", "Отправлена на модерацию"
        APPROVED = "approved", "Модерация одобрена"
        REJECTED = "rejected", "Модерация отклонена"
        PROVIDER_TESTED = "provider_tested", "Тестирование пройдено (провайдер)"
        SBERCRM_TESTED = "sbercrm_tested", "Тестирование пройдено (SberCRM)"
        SBERCRM_TESTED_OVERRIDE = "sbercrm_tested_override", "Тестирование SberCRM отмечено без пройденного прогона"
        TEST_RUN_STARTED = "test_run_started", "Запущен прогон на тестовом стенде"
        PUBLISHED = "published", "Опубликована"

    version = models.ForeignKey(AppVersion, on_delete=models.CASCADE, related_name="decisions",
                                verbose_name="версия")
    action = models.CharField("решение", max_length=32, choices=Action.choices)
    reason = models.TextField("комментарий", blank=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="кто")
    created_at = models.DateTimeField("когда", auto_now_add=True)

    class Meta:
        verbose_name = "решение модерации"
        verbose_name_plural = "история модерации"
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.version}: {self.get_action_display()}"


class Installation(models.Model):
    """An app installed by a tenant (a SberCRM customer, identified by UUID)."""

    class Status(models.TextChoices):
        INSTALLED = "installed", "Установлено"
        DISABLED = "disabled", "Отключено"

    tenant_id = models.UUIDField("тенант")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="installations",
                                    verbose_name="приложение")
    version = models.ForeignKey(AppVersion, on_delete=models.PROTECT, related_name="installations",
                                verbose_name="версия")
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.INSTALLED)
    installed_at = models.DateTimeField("установлено", auto_now_add=True)
    updated_at = models.DateTimeField("изменено", auto_now=True)
    disabled_at = models.DateTimeField("отключено", null=True, blank=True)

    class Meta:
        verbose_name = "установка приложения"
        verbose_name_plural = "установки приложений"
        ordering = ("-updated_at",)
        constraints = [models.UniqueConstraint(fields=("tenant_id", "application"), name="uniq_tenant_application")]

    def __str__(self) -> str:
        return f"{self.tenant_id} · {self.version}"


class SignupConfirmation(models.Model):
    """A one-time email confirmation of a self-service sign-up. Only the token's SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signup_confirmations",
                             verbose_name="пользователь")
    company = models.ForeignKey(ProviderCompany, on_delete=models.CASCADE, related_name="+",
                                verbose_name="компания")
    token_hash = models.CharField("хеш токена", max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField("создано", auto_now_add=True)
    expires_at = models.DateTimeField("действует до")
    confirmed_at = models.DateTimeField("подтверждено", null=True, blank=True)

    class Meta:
        verbose_name = "подтверждение регистрации"
        verbose_name_plural = "подтверждения регистрации"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.user} · {self.company}"
