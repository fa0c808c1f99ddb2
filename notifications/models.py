"""Storage of the notification service (spec: «Хранение данных»).

Recipients are mirrored from the internal services (upsert API). Telegram/VK
bindings and push devices have their own change-history tables; every send
attempt is a `Notification` row, every delivered push also a `PushHistory` row.
"""

import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    USER = "user", "Пользователь"
    MODERATOR = "moderator", "Модератор"
    MANAGER = "manager", "Менеджер"
    ADMIN = "admin", "Администратор"


class Service(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "Push"
    TELEGRAM = "telegram", "Telegram"
    VK = "vk", "VK"


class NotificationType(models.TextChoices):
    NOTIFICATION = "notification", "Обычное уведомление"
    ERROR = "error", "Ошибка"
    CRITICAL = "critical", "Критическое"
    DEADLINE = "deadline", "Дедлайн"
    SERVICE = "service", "Статус сервиса"


class BindingService(models.TextChoices):
    """Messengers a recipient binds through a bot."""

    TELEGRAM = "telegram", "Telegram"
    VK = "vk", "VK"


class Recipient(models.Model):
    id = models.UUIDField("UUID пользователя", primary_key=True, default=uuid.uuid4)
    role = models.CharField("роль", max_length=16, choices=Role.choices, default=Role.USER)
    email = models.EmailField("email", blank=True)
    name = models.CharField("имя", max_length=255, blank=True)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "получатель"
        verbose_name_plural = "получатели"
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name or self.email or self.id} ({self.get_role_display()})"


class ServiceBinding(models.Model):
    """A recipient's Telegram chat id / VK peer id. One per (recipient, service)."""

    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="bindings")
    service = models.CharField("сервис", max_length=16, choices=BindingService.choices)
    service_user_id = models.CharField("id пользователя в сервисе", max_length=64)
    is_active = models.BooleanField("активна", default=True)
    deactivated_reason = models.CharField("причина отключения", max_length=255, blank=True)
    created_at = models.DateTimeField("создана", auto_now_add=True)
    updated_at = models.DateTimeField("изменена", auto_now=True)

    class Meta:
        verbose_name = "привязка к сервису"
        verbose_name_plural = "привязки к сервисам"
        constraints = [
            models.UniqueConstraint(fields=["recipient", "service"], name="notifications_binding_one_per_service"),
            models.UniqueConstraint(fields=["service", "service_user_id"], name="notifications_binding_account_once"),
        ]

    def __str__(self):
        return f"{self.get_service_display()}: {self.service_user_id}"


class ServiceBindingHistory(models.Model):
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="binding_history")
    service = models.CharField("сервис", max_length=16, choices=BindingService.choices)
    old_service_user_id = models.CharField("старый id в сервисе", max_length=64, blank=True)
    new_service_user_id = models.CharField("новый id в сервисе", max_length=64, blank=True)
    timestamp = models.DateTimeField("время", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "изменение привязки к сервису"
        verbose_name_plural = "история привязок к сервисам"
        ordering = ["-timestamp", "-id"]

    def __str__(self):
        return f"{self.service}: {self.old_service_user_id or '—'} → {self.new_service_user_id or '—'}"


class Device(models.Model):
    """A push subscription (the OneSignal subscription id the mobile app reports)."""

    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="devices")
    device_id = models.CharField("id устройства", max_length=255, unique=True)
    is_active = models.BooleanField("активно", default=True)
    deactivated_reason = models.CharField("причина отключения", max_length=255, blank=True)
    created_at = models.DateTimeField("создано", auto_now_add=True)
    updated_at = models.DateTimeField("изменено", auto_now=True)

    class Meta:
        verbose_name = "устройство"
        verbose_name_plural = "устройства"

    def __str__(self):
        return self.device_id


class DeviceHistory(models.Model):
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="device_history")
    old_device_id = models.CharField("старый id устройства", max_length=255, blank=True)
    new_device_id = models.CharField("новый id устройства", max_length=255, blank=True)
    timestamp = models.DateTimeField("время", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "изменение привязки устройства"
        verbose_name_plural = "история привязок устройств"
        ordering = ["-timestamp", "-id"]

    def __str__(self):
        return f"{self.old_device_id or '—'} → {self.new_device_id or '—'}"


class BindingToken(models.Model):
    """One-time token put into the bot deep links instead of the recipient's permanent id."""

    token = models.UUIDField("токен", primary_key=True, default=uuid.uuid4)
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="binding_tokens")
    created_at = models.DateTimeField("выдан", auto_now_add=True)
    expires_at = models.DateTimeField("действует до")
    used_at = models.DateTimeField("использован", null=True, blank=True)
    used_service = models.CharField("использован в сервисе", max_length=16, blank=True,
                                    choices=BindingService.choices)
    used_service_user_id = models.CharField("использован аккаунтом", max_length=64, blank=True)

    class Meta:
        verbose_name = "токен привязки"
        verbose_name_plural = "токены привязки"
        ordering = ["-created_at"]

    def __str__(self):
        return str(self.token)


class Notification(models.Model):
    """History of every send request (spec «История уведомлений») and its delivery state."""

    class Status(models.TextChoices):
        PENDING = "pending", "В очереди"
        SENT = "sent", "Отправлено"
        FAILED = "failed", "Ошибка"
        # The channel may have delivered it (timeout after sending) and cannot drop a repeat:
        # never re-sent automatically; an admin can re-send it.
        UNKNOWN = "unknown", "Неизвестно (возможно доставлено)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="notifications")
    service = models.CharField("сервис", max_length=16, choices=Service.choices)
    subject = models.CharField("тема", max_length=255)
    type = models.CharField("тип", max_length=16, choices=NotificationType.choices)
    message = models.TextField("сообщение")
    timestamp = models.DateTimeField("создано", auto_now_add=True, db_index=True)
    status = models.CharField("статус", max_length=16, choices=Status.choices, default=Status.PENDING)
    is_async = models.BooleanField("асинхронно", default=False)
    attempts = models.PositiveIntegerField("попыток", default=0)
    last_error = models.TextField("последняя ошибка", blank=True)
    http_status = models.PositiveSmallIntegerField("ответ API", null=True, blank=True)
    sent_at = models.DateTimeField("отправлено", null=True, blank=True)
    # The send's row in the delivery engine (attempts, lease, retries); this row is the history.
    delivery = models.ForeignKey("communications.Delivery", verbose_name="доставка", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    external_id = models.CharField("id у провайдера", max_length=255, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="инициатор", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField("Idempotency-Key", max_length=255, blank=True)
    request_fingerprint = models.CharField("отпечаток запроса", max_length=64, blank=True)
    notify_request = models.ForeignKey("NotifyRequest", verbose_name="запрос notify", null=True, blank=True,
                                       on_delete=models.CASCADE, related_name="attempts")

    class Meta:
        verbose_name = "уведомление"
        verbose_name_plural = "история уведомлений"
        ordering = ["-timestamp"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                name="notifications_idempotency_key_per_caller",
            ),
        ]

    def __str__(self):
        return f"{self.get_service_display()} · {self.subject}"


class PushHistory(models.Model):
    """Every push handed to OneSignal (spec «История уведомлений push»)."""

    notification = models.ForeignKey(Notification, verbose_name="уведомление", on_delete=models.CASCADE,
                                     related_name="push_history")
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="push_history")
    subject = models.CharField("тема", max_length=255)
    type = models.CharField("тип", max_length=16, choices=NotificationType.choices)
    message = models.TextField("сообщение")
    title = models.CharField("заголовок push", max_length=512)
    device_ids = models.JSONField("устройства", default=list)
    external_id = models.CharField("id OneSignal", max_length=255, blank=True)
    timestamp = models.DateTimeField("время", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "push-уведомление"
        verbose_name_plural = "история push-уведомлений"
        ordering = ["-timestamp"]

    def __str__(self):
        return self.title


class PreferenceSource(models.TextChoices):
    API = "api", "API (токен пользователя)"
    TELEGRAM = "telegram", "Бот Telegram"
    VK = "vk", "Бот VK"
    EMAIL = "email_unsubscribe", "Ссылка отписки в письме"
    ADMIN = "admin", "Администратор"


class NotificationPreference(models.Model):
    """A recipient's on/off for one notification type over one channel. No row: on (the default)."""

    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="preferences")
    type = models.CharField("тип", max_length=16, choices=NotificationType.choices)
    channel = models.CharField("канал", max_length=16, choices=Service.choices)
    enabled = models.BooleanField("включено", default=True)
    updated_at = models.DateTimeField("изменено", auto_now=True)

    class Meta:
        verbose_name = "настройка уведомлений"
        verbose_name_plural = "настройки уведомлений"
        constraints = [models.UniqueConstraint(fields=["recipient", "type", "channel"],
                                               name="notifications_preference_once")]

    def __str__(self):
        return f"{self.type}/{self.channel}: {'вкл' if self.enabled else 'выкл'}"


class QuietHours(models.Model):
    """Non-mandatory `notify` deliveries inside [start, end) local time wait until `end`."""

    recipient = models.OneToOneField(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                     related_name="quiet_hours")
    start = models.TimeField("начало")
    end = models.TimeField("конец")
    timezone = models.CharField("часовой пояс", max_length=64, default="Europe/Moscow")
    updated_at = models.DateTimeField("изменено", auto_now=True)

    class Meta:
        verbose_name = "тихие часы"
        verbose_name_plural = "тихие часы"

    def __str__(self):
        return f"{self.start:%H:%M}–{self.end:%H:%M} {self.timezone}"


class PreferenceChange(models.Model):
    """Audit of every preference / quiet-hours change: `setting` old → new, who and through what."""

    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="preference_changes")
    setting = models.CharField("настройка", max_length=64, help_text="`тип/канал` или `quiet_hours`.")
    old_value = models.CharField("было", max_length=128, blank=True)
    new_value = models.CharField("стало", max_length=128, blank=True)
    source = models.CharField("источник", max_length=32, choices=PreferenceSource.choices)
    timestamp = models.DateTimeField("время", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "изменение настроек уведомлений"
        verbose_name_plural = "история настроек уведомлений"
        ordering = ["-timestamp", "-id"]

    def __str__(self):
        return f"{self.setting}: {self.old_value or '—'} → {self.new_value or '—'}"


class NotifyRequest(models.Model):
    """`POST /notifications/notify`: the service picks the channels. Each channel try is a
    `Notification` row (`attempts`), sent by the same delivery code as `/send`."""

    class Status(models.TextChoices):
        PENDING = "pending", "В очереди"
        DEFERRED = "deferred", "Отложено (тихие часы)"
        DELIVERED = "delivered", "Доставлено"
        FAILED = "failed", "Не доставлено"
        UNKNOWN = "unknown", "Неизвестно (возможно доставлено)"

    class Policy(models.TextChoices):
        FIRST_SUCCESS = "first_success", "До первой успешной доставки"
        ALL = "all", "Во все каналы"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    recipient = models.ForeignKey(Recipient, verbose_name="получатель", on_delete=models.CASCADE,
                                  related_name="notify_requests")
    type = models.CharField("тип", max_length=16, choices=NotificationType.choices)
    subject = models.CharField("тема", max_length=255)
    message = models.TextField("сообщение")
    policy = models.CharField("политика", max_length=16, choices=Policy.choices)
    channel_order = models.JSONField("порядок каналов", default=list)
    status = models.CharField("статус", max_length=16, choices=Status.choices, default=Status.PENDING)
    skipped = models.JSONField("пропущенные каналы", default=list, blank=True)
    deliver_after = models.DateTimeField("не раньше", null=True, blank=True)
    lease_until = models.DateTimeField("обрабатывается до", null=True, blank=True)
    created_at = models.DateTimeField("создано", auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField("завершено", null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="сервис", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField("idempotency_key", max_length=255, blank=True)
    request_fingerprint = models.CharField("отпечаток запроса", max_length=64, blank=True)

    class Meta:
        verbose_name = "уведомление с выбором канала"
        verbose_name_plural = "уведомления с выбором канала"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                name="notifications_notify_key_per_caller",
            ),
        ]
        indexes = [models.Index(fields=["status", "deliver_after"], name="notifications_notify_due_idx")]

    def __str__(self):
        return f"{self.type} · {self.subject}"


class StatusCallback(models.Model):
    """A service account's `callback_url` for signed (Standard Webhooks) notification status events."""

    account = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name="сервисная учётная запись",
                                   on_delete=models.CASCADE, related_name="notification_callback")
    url = models.URLField("callback_url", max_length=2000)
    secret = models.CharField("секрет подписи", max_length=128)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "адрес статусов уведомлений"
        verbose_name_plural = "адреса статусов уведомлений"

    def __str__(self):
        return self.url
