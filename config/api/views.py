"""JSON answers for Django-level errors, so no API caller ever sees HTML."""

from django.http import JsonResponse

from config.api.errors import envelope


def not_found(request, exception=None):
    return JsonResponse(envelope("not_found", "Ресурс не найден."), status=404)


def server_error(request):
    return JsonResponse(envelope("server_error", "Внутренняя ошибка сервера."), status=500)


def bad_request(request, exception=None):
    return JsonResponse(envelope("bad_request", "Некорректный запрос."), status=400)


def permission_denied(request, exception=None):
    return JsonResponse(envelope("permission_denied", "Доступ запрещён."), status=403)
