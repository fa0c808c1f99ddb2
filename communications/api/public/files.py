"""Direct uploads (`POST /api/v1/uploads`) and signed downloads (`GET /api/v1/files/<token>`)."""

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from communications.api.public.views import COMMON_ERRORS, PayloadTooLarge, PublicAPIView, _error
from communications.models.attachments import MEDIA_TYPE_CHOICES
from communications.services import attachments as services
from communications.services import files
from config.api.errors import NotFoundError
from config.api.fields import BlankFormValuesRefused, NonEmptyFileField

MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around the file part


class UploadTooLarge(PayloadTooLarge):
    def __init__(self):
        super().__init__(f"Файл больше {settings.ATTACHMENTS_MAX_UPLOAD_BYTES} байт.")


class _LimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams the file part to a temporary file and stops at the limit (nothing is stored)."""

    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit, self.received = limit, 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise UploadTooLarge()
        return super().receive_data_chunk(raw_data, start)


def uploads_limit(request) -> None:
    """Stream the request's file parts through the size-capped handler; refuse a declared length over the cap.
    Call before `request.data` is read."""
    limit = settings.ATTACHMENTS_MAX_UPLOAD_BYTES
    request._request.upload_handlers = [_LimitedUploadHandler(request._request, limit=limit)]
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit + MULTIPART_OVERHEAD:
        raise UploadTooLarge()


class PublicUploadCreateSerializer(BlankFormValuesRefused, serializers.Serializer):
    file = NonEmptyFileField(help_text="Файл (multipart/form-data), не пустой.")
    type = serializers.ChoiceField(choices=MEDIA_TYPE_CHOICES, required=False,
                                   help_text="Тип вложения: включает проверку содержимого и лимит типа.")
    mimeType = serializers.CharField(source="mime_type", max_length=127, required=False, allow_blank=True,
                                     default="")


class PublicUploadSerializer(serializers.Serializer):
    uploadId = serializers.UUIDField(source="id")
    name = serializers.CharField()
    mimeType = serializers.CharField(source="mime_type", help_text="Тип по содержимому файла.")
    size = serializers.IntegerField()
    checksum = serializers.CharField(help_text="SHA-256 сохранённого файла (hex).")
    expiresAt = serializers.DateTimeField(source="expires_at", help_text="До этого времени uploadId можно указать "
                                                                         "в attachments одного сообщения.")


class UploadView(PublicAPIView):
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        APIView.initial(self, request, *args, **kwargs)  # authentication first; not the 2 MB JSON cap
        uploads_limit(request)

    @extend_schema(
        operation_id="uploads_create", tags=["Сообщения"], summary="Загрузить файл вложения",
        description="Потоковая загрузка (multipart/form-data, поле file) до ATTACHMENTS_MAX_UPLOAD_BYTES (20 МБ). "
                    "Содержимое проверяется (тип по сигнатуре, лимит типа), из изображений удаляется геопозиция "
                    "EXIF, файл хранится под случайным именем. Ответ — uploadId для attachments сообщения этого "
                    "тенанта и провайдера, действует ограниченное время и один раз.",
        request={"multipart/form-data": PublicUploadCreateSerializer},
        examples=[OpenApiExample("Фото", request_only=True, media_type="multipart/form-data",
                                 value={"file": "<двоичные данные photo.jpg>", "type": "image"}),
                  OpenApiExample("Загрузка", response_only=True, status_codes=["201"], value={
                      "uploadId": "3f0c1f7e-8f2a-4a55-9a57-0f6e2b1d2c11", "name": "photo.jpg",
                      "mimeType": "image/jpeg", "size": 48213,
                      "checksum": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                      "expiresAt": "2026-11-21T10:15:00Z"})],
        responses={201: PublicUploadSerializer, **COMMON_ERRORS,
                   415: _error("Содержимое не соответствует типу.", "unsupported_media_type",
                               "Содержимое файла (application/pdf) не соответствует типу image.")},
    )
    def post(self, request):
        data = self.validated(PublicUploadCreateSerializer)
        upload = services.upload_create(**self.scope, fileobj=data["file"], name=data["file"].name or "",
                                        kind=data.get("type"), declared_mime=data["mime_type"])
        return Response(PublicUploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class FileView(APIView):
    """The signed URL is the credential: no token header (providers and browsers follow it as is)."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(exclude=True)  # an opaque link handed out in `url` fields, not an operation to call
    def get(self, request, token: str):
        claims, expired = files.token_read(token)
        if claims is None:
            raise NotFoundError("Файл не найден.")
        if expired:
            return Response({"error": {"code": "link_expired", "message": "Срок действия ссылки истёк."}},
                            status=status.HTTP_403_FORBIDDEN)
        attachment = services.attachment_for_token(claims)
        if attachment is None:
            raise NotFoundError("Файл не найден.")
        response = FileResponse(attachment.file.open("rb"), as_attachment=True,
                                filename=attachment.name or attachment.file.name.rsplit("/", 1)[-1],
                                content_type=attachment.mime_type or "application/octet-stream")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


