"""Marketplace API (`/internal/v1/marketplace/`).

- Developer API (JWT of a provider company member): scopes, apps, versions, publishing,
  provider configurations. A developer only sees and changes the apps of their companies;
  someone else's app answers 404 exactly like an unknown one.
- Installations API (marketplace service account): install / upgrade / disable an app for a tenant.
"""

import uuid
from functools import partial

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken

from config.api.errors import ApplicationError
from config.api.pagination import DefaultPagination
from config.api.permissions import IsMarketplaceService
from marketplace import gateway, selectors, services
from marketplace.api import serializers as s
from marketplace.api.authentication import token_error
from marketplace.api.permissions import IsDeveloper

DEV = ["marketplace: разработчик"]
SVC = ["marketplace: установки"]


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _DeveloperView(APIView):
    permission_classes = [IsDeveloper]

    def handle_exception(self, exc):
        if isinstance(exc, InvalidToken):  # simplejwt's «not valid for any token type»: say why
            exc = token_error(self.request)
        return super().handle_exception(exc)

    def app(self, code, *, for_update=False):
        return selectors.application_get_for_developer(user=self.request.user, code=code, for_update=for_update)

    def version(self, code, version):
        return selectors.app_version_get(application=self.app(code), version=version)

    def company(self, company_id=None, *, not_member_404=True):
        """The developer's company `company_id` (not a member: 404 company_not_found, or a 400 on the field),
        or without it their only company (400 when there are several)."""
        companies = selectors.company_list_for_user(user=self.request.user)
        if company_id is None:
            if len(companies) != 1:
                raise ApplicationError("Укажите компанию: вы состоите в нескольких.", field="companyId")
            return companies[0]
        company = next((c for c in companies if c.pk == company_id), None)
        if company is None and not_member_404:
            raise ApplicationError("Вы не состоите в этой компании.", code="company_not_found", field="companyId",
                                   status_code=404)
        if company is None:
            raise ApplicationError("Вы не состоите в этой компании.", field="companyId")
        return company


class ScopeListView(_DeveloperView):
    @extend_schema(operation_id="marketplace_scopes_list", tags=DEV, summary="Список скоупов доступа",
                   responses={200: s.ScopeSerializer(many=True), **s.errors()})
    def get(self, request):
        return Response(s.ScopeSerializer(selectors.scope_list(), many=True).data)


class ApplicationListView(_DeveloperView):
    @extend_schema(operation_id="marketplace_apps_list", tags=DEV, summary="Мои приложения",
                   responses={200: s.ApplicationSerializer(many=True), **s.errors()})
    def get(self, request):
        return Response(s.ApplicationSerializer(selectors.application_list_for_developer(user=request.user),
                                                many=True).data)

    @extend_schema(operation_id="marketplace_apps_create", tags=DEV, summary="Создать приложение",
                   request=s.ApplicationCreateSerializer,
                   responses={201: s.ApplicationSerializer, **s.errors(400, 409)})
    def post(self, request):
        data = _valid(s.ApplicationCreateSerializer, request.data)
        company = self.company(data.get("companyId"), not_member_404=False)
        application = services.application_create(company=company, code=data["code"], name=data["name"],
                                                  actor=request.user)
        return Response(s.ApplicationSerializer(application).data, status=201)


class ApplicationDetailView(_DeveloperView):
    @extend_schema(operation_id="marketplace_apps_retrieve", tags=DEV, summary="Приложение",
                   responses={200: s.ApplicationSerializer, **s.errors(404)})
    def get(self, request, code):
        return Response(s.ApplicationSerializer(self.app(code)).data)


class ApplicationSigningSecretView(_DeveloperView):
    """The secret our calls to the provider are signed with (docs/provider-calls.md)."""

    @extend_schema(operation_id="marketplace_apps_signing_secret_rotate", tags=DEV,
                   summary="Выпустить и показать (один раз) секрет подписи вызовов провайдера",
                   request=None, responses={201: s.AppSigningSecretSerializer, **s.errors(404, 409)})
    def post(self, request, code):
        application = self.app(code)
        rotated = services.application_signing_secret_rotate(application=application, actor=request.user)
        return Response({"appCode": application.code, **rotated}, status=201, headers={"Cache-Control": "no-store"})


class AppVersionListView(_DeveloperView):
    @extend_schema(operation_id="marketplace_versions_list", tags=DEV, summary="Версии приложения",
                   responses={200: s.AppVersionSerializer(many=True), **s.errors(404)})
    def get(self, request, code):
        return Response(s.AppVersionSerializer(selectors.app_version_list(application=self.app(code)),
                                               many=True).data)

    @extend_schema(operation_id="marketplace_versions_create", tags=DEV,
                   summary="Создать версию (модуль коммуникаций будет уведомлён)",
                   request=s.AppVersionCreateSerializer,
                   responses={201: s.AppVersionSerializer, **s.errors(400, 404)})
    def post(self, request, code):
        data = _valid(s.AppVersionCreateSerializer, request.data)
        version = services.app_version_create(application=self.app(code), version=data["version"],
                                              scopes=data.get("scopes"), actor=request.user)
        return Response(s.AppVersionSerializer(version).data, status=201)


def _detail(version):
    version.unmet_conditions = selectors.app_version_unmet_conditions(version=version)
    return s.AppVersionDetailSerializer(version).data


class AppVersionDetailView(_DeveloperView):
    @extend_schema(operation_id="marketplace_versions_retrieve", tags=DEV,
                   summary="Версия приложения и невыполненные условия публикации",
                   responses={200: s.AppVersionDetailSerializer, **s.errors(404)})
    def get(self, request, code, version):
        return Response(_detail(self.version(code, version)))


class AppVersionScopesView(_DeveloperView):
    @extend_schema(operation_id="marketplace_versions_scopes_set", tags=DEV,
                   summary="Скоупы версии («Коммуникации» нельзя отключить)",
                   request=s.ScopesSetSerializer, responses={200: s.AppVersionDetailSerializer, **s.errors(400, 404)})
    def put(self, request, code, version):
        data = _valid(s.ScopesSetSerializer, request.data)
        app_version = services.app_version_scopes_set(version=self.version(code, version), scopes=data["scopes"],
                                                      actor=request.user)
        return Response(_detail(selectors.app_version_get(application=app_version.application,
                                                          version=app_version.version)))


def _version_action_view(name: str, operation_id: str, summary: str, errors: tuple, perform):
    """POST on a version: `perform(version=..., actor=...)`, then the version as AppVersionDetail."""

    @extend_schema(operation_id=operation_id, tags=DEV, summary=summary, request=None,
                   responses={200: s.AppVersionDetailSerializer, **s.errors(*errors)})
    def post(self, request, code, version):
        app_version = self.version(code, version)
        perform(version=app_version, actor=request.user)
        return Response(_detail(app_version))

    return type(name, (_DeveloperView,), {"post": post})


AppVersionSubmitView = _version_action_view(
    "AppVersionSubmitView", "marketplace_versions_submit", "Отправить версию на модерацию", (404, 409),
    services.app_version_submit)
AppVersionTestingView = _version_action_view(
    "AppVersionTestingView", "marketplace_versions_testing_confirm",
    "Подтвердить тестирование на тестовом стенде со стороны провайдера", (404,),
    partial(services.app_version_mark_tested, side="provider"))
AppVersionPublishView = _version_action_view(
    "AppVersionPublishView", "marketplace_versions_publish",
    "Опубликовать версию (400 со списком невыполненных условий)", (400, 404), services.app_version_publish)


class TestRunListView(_DeveloperView):
    """Test-stand runs of the developer's own app version (docs/test-stand.md)."""

    @extend_schema(operation_id="marketplace_test_runs_list", tags=DEV,
                   summary="Прогоны версии на тестовом стенде (новые сверху, до 50)",
                   responses={200: s.TestRunSerializer(many=True), **s.errors(404)})
    def get(self, request, code, version):
        return Response(s.TestRunSerializer(selectors.app_version_test_runs(version=self.version(code, version)),
                                            many=True).data)

    @extend_schema(operation_id="marketplace_test_runs_start", tags=DEV,
                   summary="Запустить проверку активной конфигурации на тестовом стенде (выполняется в фоне)",
                   request=None, responses={202: s.TestRunSerializer, **s.errors(400, 404, 409)})
    def post(self, request, code, version):
        run = services.app_version_test_run_start(version=self.version(code, version), actor=request.user,
                                                  origin="developer")
        return Response(s.TestRunSerializer(run).data, status=202)


class TestRunDetailView(_DeveloperView):
    @extend_schema(operation_id="marketplace_test_runs_retrieve", tags=DEV,
                   summary="Отчёт прогона: каждая проверка с запросом, ответом, задержкой и вердиктом",
                   responses={200: s.TestRunDetailSerializer, **s.errors(404)})
    def get(self, request, code, version, run_id):
        run = selectors.app_version_test_run(version=self.version(code, version), run_id=run_id)
        return Response(s.TestRunDetailSerializer(run).data)


class ProviderConfigurationView(_DeveloperView):
    """Spec: POST/GET/PUT /internal/v1/marketplace/provider-configurations."""

    def _save(self, request, mode):
        data = _valid(s.ProviderConfigurationWriteSerializer, request.data)
        version = self.version(data["appCode"], data["appVersion"])
        result = services.provider_configuration_save(application=version.application, version=version,
                                                      data=data, mode=mode, actor=request.user)
        return s.ProviderConfigurationSerializer(result).data

    @extend_schema(operation_id="marketplace_provider_configuration_create", tags=DEV,
                   summary="Создать конфигурацию провайдера для версии приложения",
                   request=s.ProviderConfigurationWriteSerializer,
                   responses={201: s.ProviderConfigurationSerializer, **s.errors(400, 404, 409)})
    def post(self, request):
        return Response(self._save(request, "create"), status=201)

    @extend_schema(operation_id="marketplace_provider_configuration_update", tags=DEV,
                   summary="Обновить конфигурацию провайдера (новая версия становится активной)",
                   request=s.ProviderConfigurationWriteSerializer,
                   responses={200: s.ProviderConfigurationSerializer, **s.errors(400, 404)})
    def put(self, request):
        return Response(self._save(request, "update"))

    @extend_schema(operation_id="marketplace_provider_configuration_retrieve", tags=DEV,
                   summary="Активная конфигурация провайдера (ключ замаскирован), при history=true — с историей",
                   parameters=[s.ProviderConfigurationQuerySerializer],
                   responses={200: s.ProviderConfigurationSerializer, **s.errors(400, 404)})
    def get(self, request):
        query = _valid(s.ProviderConfigurationQuerySerializer, request.query_params)
        version = self.version(query["appCode"], query["appVersion"])
        result = selectors.provider_configuration_read(version=version, with_history=query["history"])
        return Response(s.ProviderConfigurationSerializer(result).data)


class _DeliveryView(_DeveloperView):
    def scope(self):
        user = self.request.user
        return selectors.developer_app_codes(user=user), selectors.developer_sandbox_tenant_ids(user=user)

    def one(self, call, delivery_id):
        """`call` (a gateway function) on one of the developer's deliveries, answered as the API shows it."""
        app_codes, sandbox_ids = self.scope()
        return Response(gateway.delivery_view(call(app_codes=app_codes, delivery_id=delivery_id),
                                              sandbox_tenant_ids=sandbox_ids))


class DeliveryListView(_DeliveryView):
    """Calls SberCRM made to the developer's endpoints and webhooks (sandbox and production)."""

    pagination_class = DefaultPagination

    @extend_schema(operation_id="marketplace_deliveries_list", tags=DEV,
                   summary="Журнал вызовов ваших эндпоинтов и вебхуков (новые сверху, постранично)",
                   parameters=[s.DeliveryQuerySerializer],
                   responses={200: s.DeliverySerializer(many=True), **s.errors(400, 404)})
    def get(self, request):
        query = _valid(s.DeliveryQuerySerializer, request.query_params)
        app_codes, sandbox_ids = self.scope()
        if "app" in query:
            self.app(query["app"])  # someone else's app: 404
        tenant = query.get("tenant")
        rows = gateway.delivery_list(
            app_codes=app_codes, sandbox_tenant_ids=sandbox_ids, app=query.get("app"),
            environment=tenant if isinstance(tenant, str) else None,
            tenant_id=tenant if isinstance(tenant, uuid.UUID) else None,
            endpoint=query.get("endpoint"), status=query.get("status"), kind=query.get("kind"),
            since=query.get("since"), until=query.get("until"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            [gateway.delivery_view(row, sandbox_tenant_ids=sandbox_ids) for row in page])


class DeliveryDetailView(_DeliveryView):
    @extend_schema(operation_id="marketplace_deliveries_retrieve", tags=DEV,
                   summary="Вызов с попытками: время, длительность, код, фрагмент ответа, заголовки",
                   responses={200: s.DeliverySerializer, **s.errors(404)})
    def get(self, request, delivery_id):
        return self.one(gateway.delivery_get, delivery_id)


def _delivery_action_view(action: str, call, summary: str):
    """POST deliveries/<id>/<action>: `call` (a gateway function) on one of the developer's deliveries."""

    @extend_schema(operation_id=f"marketplace_deliveries_{action}", tags=DEV, summary=summary, request=None,
                   responses={200: s.DeliverySerializer, **s.errors(404, 409)})
    def post(self, request, delivery_id):
        return self.one(call, delivery_id)

    return type(f"Delivery{action.title()}View", (_DeliveryView,), {"post": post})


DeliveryRetryView = _delivery_action_view("retry", gateway.delivery_retry,
                                          "Повторить недоставленный или отклонённый вызов (новый цикл попыток)")
DeliveryCancelView = _delivery_action_view("cancel", gateway.delivery_cancel,
                                           "Отменить ожидающий (или недоставленный) вызов")


class InstallationView(APIView):
    """Tenant installations, called by the marketplace UI backend with the marketplace service JWT."""

    permission_classes = [IsMarketplaceService]

    @staticmethod
    def _version(data):
        application = selectors.application_get(code=data["appCode"])
        return selectors.app_version_get(application=application, version=data["appVersion"])

    @extend_schema(operation_id="marketplace_installation_retrieve", tags=SVC, summary="Установка у тенанта",
                   parameters=[s.InstallationQuerySerializer], responses={200: s.InstallationSerializer,
                                                                         **s.errors(400, 404)})
    def get(self, request):
        query = _valid(s.InstallationQuerySerializer, request.query_params)
        installation = selectors.installation_get(tenant_id=query["tenantId"],
                                                  application=selectors.application_get(code=query["appCode"]))
        if installation is None:
            raise ApplicationError("Приложение не устанавливалось этим тенантом.", code="installation_not_found",
                                   field="tenantId", status_code=404)
        return Response(s.InstallationSerializer(installation).data)

    @extend_schema(operation_id="marketplace_installation_create", tags=SVC,
                   summary="Установить приложение тенанту (идемпотентно)", request=s.InstallationChangeSerializer,
                   responses={201: s.InstallationSerializer, 200: s.InstallationSerializer, **s.errors(400, 404, 409)})
    def post(self, request):
        data = _valid(s.InstallationChangeSerializer, request.data)
        installation, created = services.installation_install(tenant_id=data["tenantId"],
                                                               version=self._version(data))
        return Response(s.InstallationSerializer(installation).data, status=201 if created else 200)

    @extend_schema(operation_id="marketplace_installation_upgrade", tags=SVC,
                   summary="Обновить версию приложения у тенанта (вручную)", request=s.InstallationChangeSerializer,
                   responses={200: s.InstallationSerializer, **s.errors(400, 404, 409)})
    def put(self, request):
        data = _valid(s.InstallationChangeSerializer, request.data)
        installation = services.installation_upgrade(tenant_id=data["tenantId"], version=self._version(data))
        return Response(s.InstallationSerializer(installation).data)

    @extend_schema(operation_id="marketplace_installation_delete", tags=SVC,
                   summary="Отключить приложение у тенанта (идемпотентно)",
                   parameters=[s.InstallationQuerySerializer], responses={200: s.InstallationSerializer,
                                                                         **s.errors(400, 404)})
    def delete(self, request):
        query = _valid(s.InstallationQuerySerializer, request.query_params)
        installation = services.installation_uninstall(
            tenant_id=query["tenantId"], application=selectors.application_get(code=query["appCode"]))
        return Response(s.InstallationSerializer(installation).data)
