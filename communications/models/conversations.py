"""What providers push through the public API: tokens, accounts, channels, chats, messages, webhooks.

Every row carries `tenant_id` + `provider` (directly or through its chat), and every
external id is unique only inside that scope. Idempotency of the public API rests on
the unique constraints below, not on application checks.
"""

import uuid

from django.db import models
from django.db.models import Q

from .providers import Provider

__all__ = [
    "Account",
    "Channel",
    "Chat",
    "IntegrationToken",
    "Message",
    "MessageEdit",
    "MessageStatusHistory",
    "Participant",
    "Webhook",
]

EXTERNAL_ID_MAX_LENGTH = 255


class IntegrationToken(models.Model):
    """A tenant's client token for one provider. Only its id (`jti`) is stored, never the value."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Активен"
        DEACTIVATED = "deactivated", "Деактивирован"
        REPLACED = "replaced", "Заменён новым"

    jti = models.UUIDField("идентификатор (jti)", default=uuid.uuid4, unique=True, editable=False)
    tenant_id = models.UUIDField("тенант", db_index=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="integration_tokens",
                                 verbose_name="провайдер")
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField("выпущен", auto_now_add=True)
    expires_at = models.DateTimeField("действует до", null=True, blank=True)
    deactivated_at = models.DateTimeField("деактивирован", null=True, blank=True)
    issued_by = models.CharField("кем выпущен", max_length=150, blank=True)

    class Meta:
        verbose_name = "токен интеграции"
        verbose_name_plural = "токены интеграции"
        ordering = ("-issued_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider"), condition=Q(status="active"),
                                    name="uniq_active_integration_token"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.tenant_id} [{self.get_status_display()}]"

    # A token that lets its integration act: active and not expired. `usable` for the ORM; `USABLE_SQL` says the same
    # in hand-written SQL (`{t}`: the table's alias; parameter: now). The status is written into the text, so even a
    # prepared statement's generic plan may read the one active token by `uniq_active_integration_token`.
    USABLE_SQL = "{t}.status = '" + Status.ACTIVE.value + "' AND ({t}.expires_at IS NULL OR {t}.expires_at > %s)"

    @classmethod
    def usable(cls, now) -> Q:
        return Q(status=cls.Status.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    @property
    def throttle_key(self) -> str:
        """Rate-limit identity of a provider calling with this token (see PrincipalRateThrottle)."""
        return f"integration-token:{self.jti}"


class Account(models.Model):
    """The tenant's account at a provider: one main account, one child account per channel."""

    class Kind(models.TextChoices):
        MAIN = "main", "Основной"
        CHILD = "child", "Дочерний (канал)"

    tenant_id = models.UUIDField("тенант", db_index=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="accounts",
                                 verbose_name="провайдер")
    kind = models.CharField("тип", max_length=10, choices=Kind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
                               verbose_name="основной аккаунт")
    is_active = models.BooleanField("активен", default=True)
    activated_at = models.DateTimeField("активирован", null=True, blank=True)
    deactivated_at = models.DateTimeField("деактивирован", null=True, blank=True)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "аккаунт"
        verbose_name_plural = "аккаунты"
        ordering = ("tenant_id", "provider", "kind", "id")
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider"), condition=Q(kind="main"),
                                    name="uniq_main_account_per_tenant_provider"),
            models.CheckConstraint(condition=Q(kind="main", parent__isnull=True) | Q(kind="child", parent__isnull=False),
                                   name="account_child_has_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.tenant_id} / {self.provider_id}"


class Channel(models.Model):
    """A provider channel (a Telegram bot, a WhatsApp number...). `code` is stored exactly as sent."""

    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="channels",
                                 verbose_name="провайдер")
    external_id = models.CharField("ID у провайдера", max_length=EXTERNAL_ID_MAX_LENGTH)
    code = models.CharField("код канала", max_length=64)
    name = models.CharField("название", max_length=255, blank=True)
    metadata = models.JSONField("доп. данные", default=dict, blank=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="channel",
                                   verbose_name="дочерний аккаунт")
    created_at = models.DateTimeField("подключён", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "канал"
        verbose_name_plural = "каналы"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider", "external_id"), name="uniq_channel_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.external_id} ({self.code})"


class Chat(models.Model):
    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="chats", verbose_name="провайдер")
    external_id = models.CharField("ID у провайдера", max_length=EXTERNAL_ID_MAX_LENGTH)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="chats",
                                verbose_name="канал")
    title = models.CharField("название", max_length=255, blank=True)
    type = models.CharField("тип", max_length=32, blank=True)
    metadata = models.JSONField("доп. данные", default=dict, blank=True)
    # The repeat rule (docs/public-api.md): a repeated POST must carry the same body; a PATCH may carry
    # the provider's change time, and an older one than the stored time is refused.
    request_fingerprint = models.CharField("отпечаток тела POST", max_length=64, blank=True, editable=False)
    provider_changed_at = models.DateTimeField("изменён у провайдера", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "чат"
        verbose_name_plural = "чаты"
        ordering = ("-updated_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider", "external_id"), name="uniq_chat_external_id"),
        ]
        # Issue 19: the operator's chat list (newest change first) reads one page, not the tenant's chats.
        indexes = [models.Index(fields=("tenant_id", "provider", "-updated_at", "-id"), name="chat_operator_list_idx")]

    def __str__(self) -> str:
        return self.title or self.external_id


class Participant(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="participants", verbose_name="чат")
    external_id = models.CharField("ID у провайдера", max_length=EXTERNAL_ID_MAX_LENGTH)
    name = models.CharField("имя", max_length=255, blank=True)
    username = models.CharField("логин", max_length=255, blank=True)
    phone = models.CharField("телефон", max_length=32, blank=True)
    metadata = models.JSONField("доп. данные", default=dict, blank=True)

    class Meta:
        verbose_name = "участник"
        verbose_name_plural = "участники"
        ordering = ("chat", "id")
        constraints = [
            models.UniqueConstraint(fields=("chat", "external_id"), name="uniq_participant_external_id"),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming", "Входящее"
        OUTGOING = "outgoing", "Исходящее"

    class Status(models.TextChoices):
        SENT = "sent", "Отправлено"
        DELIVERED = "delivered", "Доставлено"
        READ = "read", "Прочитано"
        FAILED = "failed", "Ошибка"

    # tenant_id/provider are denormalised from the chat: the message id is unique per
    # tenant+provider (the path is /messages/{messageId}), enforced by one constraint.
    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="messages",
                                 verbose_name="провайдер")
    # No index of its own: message_chat_unread_idx and message_chat_time_idx lead with it.
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages", verbose_name="чат",
                             db_index=False)
    external_id = models.CharField("ID у провайдера", max_length=EXTERNAL_ID_MAX_LENGTH)
    direction = models.CharField("направление", max_length=10, choices=Direction.choices)
    text = models.TextField("текст", blank=True)
    sender_external_id = models.CharField("ID отправителя", max_length=EXTERNAL_ID_MAX_LENGTH, blank=True)
    seen_flag = models.BooleanField("прочитано", default=False)
    status = models.CharField("статус", max_length=20, choices=Status.choices, default=Status.SENT)
    status_error = models.TextField("описание ошибки", blank=True)
    sent_at = models.DateTimeField("время у провайдера", null=True, blank=True)
    # replyTo as given by the provider; `reply_to` is set once that message is known (resolved)
    reply_to_external_id = models.CharField("ответ на (ID у провайдера)", max_length=EXTERNAL_ID_MAX_LENGTH,
                                            blank=True)
    reply_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies",
                                 verbose_name="ответ на")
    request_fingerprint = models.CharField("отпечаток тела POST", max_length=64, blank=True, editable=False)
    provider_changed_at = models.DateTimeField("изменено у провайдера", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("получено", auto_now_add=True)
    updated_at = models.DateTimeField("изменено", auto_now=True)
    edited_at = models.DateTimeField("отредактировано", null=True, blank=True)

    class Meta:
        verbose_name = "сообщение"
        verbose_name_plural = "сообщения"
        ordering = ("chat", "created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider", "external_id"),
                                    name="uniq_message_external_id"),
        ]
        # A chat's messages; its unread incoming ones counted from the index alone (the operator's chat list).
        indexes = [models.Index(fields=("chat", "seen_flag", "direction"), name="message_chat_unread_idx"),
                   # A chat's page of messages, newest first (read backwards): the page's rows, not the whole chat.
                   models.Index(fields=("chat", "created_at", "id"), name="message_chat_time_idx"),
                   models.Index(fields=("tenant_id", "provider", "reply_to_external_id"),
                                condition=Q(reply_to__isnull=True) & ~Q(reply_to_external_id=""),
                                name="message_unresolved_reply_idx"),
                   # The recent ones, for the beat that links a reply stored at the same moment as its quote.
                   models.Index(fields=("created_at",), condition=Q(reply_to__isnull=True) & ~Q(reply_to_external_id=""),
                                name="message_recent_reply_idx")]

    def __str__(self) -> str:
        return self.external_id


class MessageEdit(models.Model):
    """One text replacement: the text before and after, and when."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits", verbose_name="сообщение")
    previous_text = models.TextField("прежний текст", blank=True)
    new_text = models.TextField("новый текст", blank=True)
    edited_at = models.DateTimeField("время правки", auto_now_add=True)

    class Meta:
        verbose_name = "правка сообщения"
        verbose_name_plural = "история правок сообщений"
        ordering = ("message", "edited_at", "id")

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.edited_at:%Y-%m-%d %H:%M:%S}"


class MessageStatusHistory(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_history",
                                verbose_name="сообщение")
    status = models.CharField("статус", max_length=20, choices=Message.Status.choices)
    error = models.TextField("описание ошибки", blank=True)
    changed_at = models.DateTimeField("время", auto_now_add=True)

    class Meta:
        verbose_name = "смена статуса сообщения"
        verbose_name_plural = "история статусов сообщений"
        ordering = ("message", "changed_at", "id")

    def __str__(self) -> str:
        return f"{self.message_id}: {self.status}"


class Webhook(models.Model):
    """Where the module sends events for one tenant+provider. The secret is shown to the provider once."""

    class Event(models.TextChoices):
        MESSAGE_CREATED = "message.created", "Исходящее сообщение из CRM"
        MESSAGE_UPDATED = "message.updated", "Правка сообщения в CRM"
        MESSAGE_STATUS = "message.status_changed", "Смена статуса сообщения"
        CHAT_SEEN = "chat.seen", "Чат прочитан в CRM"
        INTEGRATION_DEACTIVATED = "integration.deactivated", "Интеграция деактивирована"

    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="webhooks",
                                 verbose_name="провайдер")
    url = models.URLField("URL", max_length=2000)
    # Kept because the module signs with it (HMAC); never returned after it was shown once.
    secret = models.CharField("секрет подписи", max_length=128)
    events = models.JSONField("события", default=list)
    created_at = models.DateTimeField("создан", auto_now_add=True)
    updated_at = models.DateTimeField("изменён", auto_now=True)

    class Meta:
        verbose_name = "вебхук"
        verbose_name_plural = "вебхуки"
        ordering = ("-updated_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant_id", "provider"), name="uniq_webhook_per_tenant_provider"),
        ]

    def __str__(self) -> str:
        return self.url
