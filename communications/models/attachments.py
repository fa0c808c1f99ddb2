"""Message attachments (media by URL or upload, locations, contacts) and direct uploads."""

import uuid

from django.db import models

from .conversations import Message
from .providers import Provider

__all__ = ["Attachment", "Upload"]


class Attachment(models.Model):
    class Type(models.TextChoices):
        IMAGE = "image", "Изображение"
        VIDEO = "video", "Видео"
        AUDIO = "audio", "Аудио"
        VOICE = "voice", "Голосовое сообщение"
        FILE = "file", "Файл"
        STICKER = "sticker", "Стикер"
        LOCATION = "location", "Геопозиция"
        CONTACT = "contact", "Контакт"

    MEDIA_TYPES = frozenset({"image", "video", "audio", "voice", "file", "sticker"})

    class Status(models.TextChoices):
        PENDING = "pending", "Ожидает загрузки"
        STORED = "stored", "Сохранено"
        FAILED = "failed", "Ошибка"

    # tenant_id/provider are denormalised from the message: every file lookup is scoped by them.
    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="attachments",
                                 verbose_name="провайдер")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name="сообщение")
    position = models.PositiveSmallIntegerField("позиция")
    type = models.CharField("тип", max_length=16, choices=Type.choices)
    source_url = models.URLField("URL у провайдера", max_length=2000, blank=True)
    name = models.CharField("имя файла", max_length=255, blank=True)
    mime_type = models.CharField("MIME-тип", max_length=127, blank=True)
    size = models.BigIntegerField("размер, байт", null=True, blank=True)
    status = models.CharField("статус", max_length=10, choices=Status.choices, default=Status.STORED)
    failure_reason = models.CharField("причина ошибки", max_length=500, blank=True)
    # fetch by URL (pending): its row of the delivery engine (attempts, lease, retries, sweeper)
    fetch = models.ForeignKey("communications.Delivery", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name="загрузка (доставка)")
    # random name inside the storage; never the name given by the provider
    file = models.FileField("файл", max_length=255, blank=True)
    checksum = models.CharField("SHA-256", max_length=64, blank=True)
    latitude = models.FloatField("широта", null=True, blank=True)
    longitude = models.FloatField("долгота", null=True, blank=True)
    location_title = models.CharField("название места", max_length=255, blank=True)
    contact_name = models.CharField("имя контакта", max_length=255, blank=True)
    contact_phone = models.CharField("телефон контакта", max_length=32, blank=True)
    created_at = models.DateTimeField("создано", auto_now_add=True)
    updated_at = models.DateTimeField("изменено", auto_now=True)

    class Meta:
        verbose_name = "вложение"
        verbose_name_plural = "вложения"
        ordering = ("message", "position")
        constraints = [
            models.UniqueConstraint(fields=("message", "position"), name="uniq_attachment_position"),
        ]

    def __str__(self) -> str:
        return self.name or self.get_type_display()


class Upload(models.Model):
    """A file uploaded directly by a provider, referenced by `uploadId` within its lifetime."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.UUIDField("тенант")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="uploads",
                                 verbose_name="провайдер")
    file = models.FileField("файл", max_length=255)
    name = models.CharField("имя файла", max_length=255, blank=True)
    mime_type = models.CharField("MIME-тип", max_length=127)
    size = models.BigIntegerField("размер, байт")
    checksum = models.CharField("SHA-256", max_length=64)
    created_at = models.DateTimeField("загружено", auto_now_add=True)
    expires_at = models.DateTimeField("действует до")

    class Meta:
        verbose_name = "загрузка"
        verbose_name_plural = "загрузки"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name or str(self.id)


MEDIA_TYPE_CHOICES = [choice for choice in Attachment.Type.choices if choice[0] in Attachment.MEDIA_TYPES]
