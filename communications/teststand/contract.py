"""The verdict of one call: transport, status, latency, then the documented answer contract."""

import requests
from django.conf import settings

from communications import clients
from communications import endpoints as provider_endpoints
from communications.models import ConformanceCheck

Verdict = ConformanceCheck.Verdict


def _chain(error: BaseException):
    """The exception and everything it was raised from (the client wraps requests' errors)."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def transport_verdict(error: Exception) -> tuple[str, str]:
    """Unreachable, TLS failure or timeout, from the client's exception."""
    chain = _chain(error)
    connect, read = settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT
    if isinstance(error, clients.UnsafeTargetError):
        return Verdict.UNREACHABLE, f"Адрес не допускается для вызовов провайдера: {error}."
    if any(isinstance(exc, requests.exceptions.SSLError) for exc in chain):
        return Verdict.TLS_ERROR, ("TLS-соединение не установлено: сертификат недействителен или выдан на другое "
                                   f"имя, либо сервер не отвечает по TLS ({error}).")
    if any(isinstance(exc, requests.exceptions.ConnectTimeout) for exc in chain):
        return Verdict.TIMEOUT, f"Соединение не установлено за {connect:g} с (таймаут подключения)."
    if any(isinstance(exc, requests.exceptions.Timeout) for exc in chain):
        return Verdict.TIMEOUT, f"Нет ответа за {read:g} с (таймаут чтения): эндпоинт отвечает слишком долго."
    return Verdict.UNREACHABLE, f"Эндпоинт недоступен: {error}."


def contract_problem(endpoint: str, body, sent: dict) -> str:
    """'' when the 2xx answer matches the documented contract, else what is wrong (Russian): the registry's
    answer check of the endpoint."""
    entry = provider_endpoints.endpoint_get(endpoint)
    return entry.answer_problem(body, sent) if entry else ""


def call_verdict(endpoint: str, result: clients.CallResult, sent: dict) -> tuple[str, str]:
    """Verdict of a call that got an HTTP answer."""
    code = result.status_code
    if 300 <= code < 400:
        return Verdict.REDIRECT, (f"HTTP {code}: перенаправление на {result.headers.get('Location', '—')}. "
                                  "Модуль не следует перенаправлениям: укажите в конфигурации конечный URL.")
    if not result.ok:
        return Verdict.BAD_STATUS, f"HTTP {code} вместо 2xx: {result.excerpt[:300] or 'пустое тело'}"
    limit_ms = settings.PROVIDER_READ_TIMEOUT * 1000
    if result.latency_ms > limit_ms:
        return Verdict.TIMEOUT, (f"Ответ получен за {result.latency_ms} мс — дольше допустимых "
                                 f"{settings.PROVIDER_READ_TIMEOUT:g} с.")
    problem = contract_problem(endpoint, result.json, sent)
    if problem:
        return Verdict.CONTRACT_VIOLATION, problem
    return Verdict.OK, f"HTTP {code} за {result.latency_ms} мс, ответ соответствует контракту."


def repeat_verdict(endpoint: str, first, second) -> tuple[str, str]:
    """Same Idempotency-Key, same body: the answers must name the same message(s)."""
    ids = provider_endpoints.endpoint_get(endpoint).stand.repeat_ids
    before, after = ids(first), ids(second)
    if before != after:
        return Verdict.NOT_IDEMPOTENT, (
            f"Повтор с тем же Idempotency-Key вернул другой id ({before} → {after}): сообщение создано повторно. "
            "Храните ответ по ключу идемпотентности и возвращайте его на повтор.")
    return Verdict.OK, "Повтор с тем же Idempotency-Key вернул тот же id: повтор не создал дубль."
