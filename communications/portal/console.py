"""The developer console (`/developers/console/`): Django templates in Russian over the same marketplace
services as the developer API. Session sign-in with the developer's email and password (django-axes
counts failures); a member of blocked companies only is signed out. Every form posts an `action`."""

import json
import uuid
from functools import wraps

from django.contrib.auth import authenticate, login, logout
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from communications import endpoints as provider_endpoints
from communications.portal.views import PROVIDERS, Page, nav
from config.errors import ApplicationError, NotFoundError
from marketplace import gateway, selectors, services
from marketplace.api.serializers import ProviderConfigurationWriteSerializer
from marketplace.services import sandbox

CONSOLE = Page("console/", "developers-console", "Консоль разработчика", "developers/console/index.html", PROVIDERS)
LOGIN = Page("console/login/", "developers-console-login", "Вход в консоль", "developers/console/login.html",
             PROVIDERS)
APP = Page("console/apps/<slug:code>/", "developers-console-app", "Приложение", "developers/console/app.html",
           PROVIDERS)
SANDBOX = Page("console/sandbox/", "developers-console-sandbox", "Песочница", "developers/console/sandbox.html",
               PROVIDERS)
DELIVERIES = Page("console/deliveries/", "developers-console-deliveries", "Журнал доставок",
                  "developers/console/deliveries.html", PROVIDERS)


def _developer_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and selectors.company_list_for_user(user=user)):
            if user.is_authenticated:
                logout(request)
            return redirect(f"{reverse(LOGIN.name)}?next={request.path}")
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as exc:  # someone else's app or call: a 404 like an unknown one
            raise Http404(exc.message) from exc
    return wrapper


def _render(request, page: Page, status=200, **context):
    return render(request, page.template, {"page": page, "nav": nav(), **context}, status=status)


def _error(exc: ApplicationError) -> dict:
    return {"message": exc.message, "code": exc.code,
            "fields": {field: messages if isinstance(messages, list) else [messages]
                       for field, messages in (exc.fields or {}).items()}}


def _validation(errors) -> ApplicationError:
    def flat(value, prefix=""):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from flat(inner, f"{prefix}{key}." if not isinstance(inner, list) else f"{prefix}{key}")
        elif isinstance(value, list):
            yield prefix.rstrip("."), [str(item) for item in value]
    return ApplicationError("Исправьте ошибки в полях.", fields=dict(flat(errors)))


@require_http_methods(["GET", "POST"])
def login_page(request):
    error = None
    if request.method == "GET" and request.user.is_authenticated and selectors.company_list_for_user(user=request.user):
        return redirect(reverse(CONSOLE.name))
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username", "").strip().lower(),
                            password=request.POST.get("password", ""))
        if user is not None and selectors.company_list_for_user(user=user):
            login(request, user)
            target = request.POST.get("next") or ""
            return redirect(target if target.startswith("/developers/console/") else reverse(CONSOLE.name))
        error = "Неверный email или пароль, адрес не подтверждён или компания заблокирована."
    return _render(request, LOGIN, status=400 if error else 200, error=error, next=request.GET.get("next", ""))


@require_http_methods(["POST"])
def logout_page(request):
    logout(request)
    return redirect(reverse(LOGIN.name))


@_developer_required
@require_http_methods(["GET", "POST"])
def index_page(request):
    error, companies = None, selectors.company_list_for_user(user=request.user)
    if request.method == "POST":
        try:
            application = services.application_create(company=companies[0], code=request.POST.get("code", "").strip(),
                                                      name=request.POST.get("name", "").strip(), actor=request.user)
            return redirect(reverse(APP.name, args=[application.code]))
        except ApplicationError as exc:
            error = _error(exc)
    apps = selectors.application_list_for_developer(user=request.user)
    return _render(request, CONSOLE, status=400 if error else 200, apps=apps, companies=companies, error=error)


def _configuration_template() -> dict:
    """A first configuration to fill in: the required endpoints of the registry."""
    return {
        "configurationVersion": "1.0.0", "providerLabel": "",
        "endpoints": {name: "https://" for name in provider_endpoints.required_names()},
        "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": ""},
    }


def _editable(active: dict | None) -> str:
    """The JSON to edit: the active configuration without its key (never shown back), or a template."""
    if active is None:
        data = _configuration_template()
    else:
        data = {"configurationVersion": active["configurationVersion"], "providerLabel": active["providerLabel"],
                "endpoints": active["endpoints"], "auth": {**active["auth"], "key": ""}}
    return json.dumps(data, ensure_ascii=False, indent=2)


def _config_save(request, application, version):
    try:
        data = json.loads(request.POST.get("configuration") or "")
    except ValueError:
        raise ApplicationError("Это не JSON.", fields={"configuration": ["Это не JSON."]}) from None
    if not isinstance(data, dict):
        raise ApplicationError("Нужен JSON-объект.", fields={"configuration": ["Нужен JSON-объект."]})
    return _config_store(request, application, version, data)


# The form editor: one input per configuration field, named by its path (the same path field errors use).
FORM_FIELDS = (("configurationVersion", "Версия конфигурации (SemVer)"), ("providerLabel", "Название провайдера"),
               ("auth.headerName", "Заголовок с ключом API"), ("auth.key", "Ключ API (вводится при каждом сохранении)"))


def _config_from_form(form) -> dict:
    endpoints = {name: form.get(f"endpoints.{name}", "").strip() for name in provider_endpoints.endpoint_names()}
    return {"configurationVersion": form.get("configurationVersion", "").strip(),
            "providerLabel": form.get("providerLabel", "").strip(),
            "endpoints": {name: url for name, url in endpoints.items() if url},
            "auth": {"type": "API_KEY", "headerName": form.get("auth.headerName", "").strip(),
                     "key": form.get("auth.key", "")}}


def _form_fields(active: dict | None, posted=None, errors: dict | None = None) -> list[dict]:
    """The form editor's inputs: the posted values after an error (with their messages), else the active
    configuration. The key is never shown back, not even the one just typed."""
    errors = errors or {}
    current = _config_from_form(posted) if posted is not None else json.loads(_editable(active))

    def value(path: str) -> str:
        node = current
        for part in path.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return "" if path == "auth.key" else str(node or "")  # the key is never echoed back

    fields = [{"name": path, "label": label, "value": value(path), "errors": errors.get(path, [])}
              for path, label in FORM_FIELDS]
    for name in provider_endpoints.endpoint_names():
        path = f"endpoints.{name}"
        required = name in provider_endpoints.required_names()
        fields.append({"name": path, "label": f"{name} ({'обязательный' if required else 'необязательный'})",
                       "value": value(path), "errors": errors.get(path, [])})
    return fields


def _config_store(request, application, version, data: dict) -> str:
    data = {**data, "appCode": application.code, "appVersion": version.version}
    serializer = ProviderConfigurationWriteSerializer(data=data)
    if not serializer.is_valid():
        raise _validation(serializer.errors)
    mode = "update" if gateway.provider_configuration_active_version(
        app_code=application.code, app_version=version.version) is not None else "create"
    services.provider_configuration_save(application=application, version=version, data=serializer.validated_data,
                                         mode=mode, actor=request.user)
    return "Конфигурация сохранена."


def _version_action(request, application, action):
    version = selectors.app_version_get(application=application, version=request.POST.get("version", ""))
    user = request.user
    if action == "scope":
        services.app_version_scopes_set(version=version, scopes=["communications"], actor=user)
        return "Скоуп «Коммуникации» включён."
    if action == "configuration":
        return _config_save(request, application, version)
    if action == "configuration_form":
        return _config_store(request, application, version, _config_from_form(request.POST))
    if action == "test_run":
        run = services.app_version_test_run_start(version=version, actor=user, origin="developer")
        return f"Прогон №{run['id']} запущен: обновите страницу, чтобы увидеть вердикты."
    if action == "tested":
        services.app_version_mark_tested(version=version, actor=user, side="provider")
        return "Тестирование подтверждено со стороны провайдера."
    if action == "submit":
        services.app_version_submit(version=version, actor=user)
        return "Версия отправлена на модерацию."
    if action == "publish":
        services.app_version_publish(version=version, actor=user)
        return "Версия опубликована."
    raise ApplicationError("Неизвестное действие.")


@_developer_required
@require_http_methods(["GET", "POST"])
def app_page(request, code):
    application = selectors.application_get_for_developer(user=request.user, code=code)
    error, notice, secret = None, None, None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "version":
                services.app_version_create(application=application, version=request.POST.get("version", "").strip(),
                                            scopes=None, actor=request.user)
                notice = "Версия создана."
            elif action == "secret":
                secret = services.application_signing_secret_rotate(application=application, actor=request.user)
            else:
                notice = _version_action(request, application, action)
        except ApplicationError as exc:
            error = {**_error(exc), "action": action, "version": request.POST.get("version", "")}
    versions = []
    for version in selectors.app_version_list(application=application):
        has_scope = version.scopes.filter(code="communications").exists()
        runs = selectors.app_version_test_runs(version=version) if has_scope else []
        latest = selectors.app_version_test_run(version=version, run_id=runs[0]["id"]) if runs else None
        active = gateway.provider_configuration_get(app_code=code, app_version=version.version) if has_scope else None
        form_failed = bool(error) and error["action"] == "configuration_form" and error["version"] == version.version
        form = _form_fields(active, request.POST if form_failed else None, error["fields"] if form_failed else None)
        versions.append({"version": version, "unmet": selectors.app_version_unmet_conditions(version=version),
                         "has_scope": has_scope, "active": active, "configuration": _editable(active),
                         "form": form, "runs": runs, "latest": latest})
    return _render(request, APP, status=400 if error else 200, application=application, versions=versions,
                   error=error, notice=notice, secret=secret,
                   posted_configuration=request.POST.get("configuration", "") if error else "")


def _token_id(form) -> uuid.UUID:
    try:
        return uuid.UUID(form.get("tokenId", ""))
    except ValueError as exc:
        raise ApplicationError("Укажите id токена песочницы.", field="tokenId") from exc


@_developer_required
@require_http_methods(["GET", "POST"])
def sandbox_page(request):
    company = selectors.company_list_for_user(user=request.user)[0]
    error, notice, token = None, None, None
    if request.method == "POST":
        action, code = request.POST.get("action", ""), request.POST.get("appCode", "")
        try:
            if action == "reset":
                sandbox.sandbox_reset(company=company)
                notice = "Песочница сброшена."
            elif action == "revoke":
                revoked = sandbox.sandbox_token_revoke(company=company, token_id=_token_id(request.POST))
                notice = f"Токен {revoked['id']} отозван: следующий вызов публичного API с ним получит 401."
            else:
                application = selectors.application_get_for_developer(user=request.user, code=code)
                if action == "install":
                    version = selectors.app_version_get(application=application,
                                                        version=request.POST.get("appVersion", ""))
                    sandbox.sandbox_install(version=version)
                    notice = f"{application.code} {version.version} установлено в песочницу."
                elif action == "token":
                    token = sandbox.sandbox_token_issue(application=application, actor=request.user)
                elif action == "send":
                    message = sandbox.sandbox_operator(application=application, action="send",
                                                       chat_id=request.POST.get("chatId", ""),
                                                       text=request.POST.get("text", ""))
                    notice = f"Сообщение №{message['id']} отправлено: вызов sendMessage — в журнале доставок."
                else:
                    raise ApplicationError("Неизвестное действие.")
        except ApplicationError as exc:
            error = {**_error(exc), "action": action}
    apps = selectors.application_list_for_developer(user=request.user).prefetch_related("versions")
    return _render(request, SANDBOX, status=400 if error else 200, state=sandbox.sandbox_state(company=company),
                   apps=apps, chats=gateway.sandbox_chat_list(tenant_id=company.sandbox_tenant_id), error=error,
                   notice=notice, token=token)


@_developer_required
@require_http_methods(["GET", "POST"])
def deliveries_page(request):
    app_codes = selectors.developer_app_codes(user=request.user)
    sandbox_ids = selectors.developer_sandbox_tenant_ids(user=request.user)
    error, notice = None, None
    if request.method == "POST":
        try:
            delivery_id = int(request.POST.get("delivery", "0") or 0)
            if request.POST.get("action") == "cancel":
                gateway.delivery_cancel(app_codes=app_codes, delivery_id=delivery_id)
                notice = f"Вызов №{delivery_id} отменён."
            else:
                gateway.delivery_retry(app_codes=app_codes, delivery_id=delivery_id)
                notice = f"Вызов №{delivery_id} поставлен на повтор."
        except (ApplicationError, ValueError) as exc:
            error = _error(exc) if isinstance(exc, ApplicationError) else {"message": "Неверный номер вызова."}
    environment = request.GET.get("tenant") if request.GET.get("tenant") in ("sandbox", "production") else None
    rows = gateway.delivery_list(app_codes=app_codes, sandbox_tenant_ids=sandbox_ids, environment=environment,
                                 status=request.GET.get("status") or None)
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    calls = [gateway.delivery_view(row, sandbox_tenant_ids=sandbox_ids) for row in page]
    return _render(request, DELIVERIES, status=400 if error else 200, calls=calls, page_obj=page, error=error,
                   notice=notice, environment=environment or "")
