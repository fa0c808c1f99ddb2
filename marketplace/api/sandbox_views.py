"""The developer's sandbox (`/internal/v1/marketplace/sandbox...`): install, tokens, operator actions, reset.

The sandbox of an app is its company's sandbox tenant; someone else's app or token answers 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from marketplace import gateway
from marketplace.api import serializers as s
from marketplace.api.views import _DeveloperView, _valid
from marketplace.services import sandbox

TAGS = ["marketplace: песочница"]
LIMITS = s.errors(400, 404, 409, 429)


class SandboxView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_retrieve", tags=TAGS,
                   summary="Песочница компании: тенант, установки, токены, лимиты и расход",
                   parameters=[s.SandboxCompanySerializer], responses={200: s.SandboxStateSerializer, **s.errors(400, 404)})
    def get(self, request):
        query = _valid(s.SandboxCompanySerializer, request.query_params)
        return Response(sandbox.sandbox_state(company=self.company(query.get("companyId"))))


class SandboxInstallView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_install", tags=TAGS,
                   summary="Установить в песочницу любую свою версию (опубликованную или нет)",
                   request=s.SandboxInstallSerializer, responses={200: s.SandboxStateSerializer, **s.errors(400, 404, 409)})
    def post(self, request):
        data = _valid(s.SandboxInstallSerializer, request.data)
        version = self.version(data["appCode"], data["appVersion"])
        sandbox.sandbox_install(version=version)
        return Response(sandbox.sandbox_state(company=version.application.company))


class SandboxTokenView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_tokens_issue", tags=TAGS,
                   summary="Выпустить токен интеграции песочницы (показывается один раз; прежний заменяется)",
                   request=s.SandboxAppSerializer, responses={201: s.SandboxIssuedTokenSerializer, **LIMITS})
    def post(self, request):
        data = _valid(s.SandboxAppSerializer, request.data)
        issued = sandbox.sandbox_token_issue(application=self.app(data["appCode"]), actor=request.user)
        return Response(issued, status=201, headers={"Cache-Control": "no-store"})


class SandboxTokenRevokeView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_tokens_revoke", tags=TAGS,
                   summary="Отозвать токен песочницы (следующий вызов публичного API с ним получит 401)",
                   request=None, parameters=[s.SandboxCompanySerializer],
                   responses={200: s.SandboxTokenSerializer, **s.errors(400, 404)})
    def delete(self, request, token_id):
        query = _valid(s.SandboxCompanySerializer, request.query_params)
        return Response(sandbox.sandbox_token_revoke(company=self.company(query.get("companyId")), token_id=token_id))


class SandboxChatsView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_chats_list", tags=TAGS, summary="Чаты песочницы",
                   parameters=[s.SandboxCompanySerializer], responses={200: s.SandboxChatSerializer(many=True),
                                                                      **s.errors(400, 404)})
    def get(self, request):
        query = _valid(s.SandboxCompanySerializer, request.query_params)
        return Response(gateway.sandbox_chat_list(tenant_id=self.company(query.get("companyId")).sandbox_tenant_id))


class SandboxResetView(_DeveloperView):
    @extend_schema(operation_id="marketplace_sandbox_reset", tags=TAGS,
                   summary="Сбросить песочницу: удалить установки (провайдер получит disconnect), токены и чаты",
                   request=s.SandboxCompanySerializer, responses={200: s.SandboxStateSerializer, **s.errors(400, 404)})
    def post(self, request):
        data = _valid(s.SandboxCompanySerializer, request.data)
        return Response(sandbox.sandbox_reset(company=self.company(data.get("companyId"))))


class _OperatorView(_DeveloperView):
    serializer = None
    action = ""

    def run(self, request, status=200, **path):
        data = _valid(self.serializer, request.data)
        application = self.app(data.pop("appCode"))
        fields = {"chatId": "chat_id", "chatIds": "chat_ids", "operatorId": "operator_id"}
        kwargs = {fields.get(key, key): value for key, value in data.items()}
        return Response(sandbox.sandbox_operator(application=application, action=self.action, **path, **kwargs),
                        status=status)


def _operator_view(action: str, method: str, serializer, summary: str, response, status: int = 200):
    """The view of one CRM operator action in the sandbox: `method` validates `serializer`, runs the action."""

    @extend_schema(operation_id=f"marketplace_sandbox_operator_{action}", tags=TAGS, summary=summary,
                   request=serializer, responses={status: response, **LIMITS})
    def handle(self, request, **path):  # path: message_id or chat_id, as the route names it
        return self.run(request, status=status, **path)

    return type(f"Sandbox{action.title()}View", (_OperatorView,),
                {"serializer": serializer, "action": action, method: handle})


SandboxSendView = _operator_view(
    "send", "post", s.SandboxSendSerializer, "Оператор CRM отправляет сообщение в чат песочницы (вызов sendMessage "
    "провайдера)", s.SandboxMessageSerializer, status=201)
SandboxEditView = _operator_view(
    "edit", "put", s.SandboxEditSerializer, "Оператор правит своё сообщение (updateMessageContent)",
    s.SandboxMessageSerializer)
SandboxStatusView = _operator_view(
    "status", "post", s.SandboxStatusSerializer, "Оператор меняет статус сообщения (updateMessageStatus)",
    s.SandboxMessageSerializer)
SandboxReadView = _operator_view(
    "read", "post", s.SandboxAppSerializer, "Оператор прочитал чат (markChatRead)", s.SandboxReadResultSerializer)
SandboxBroadcastView = _operator_view(
    "broadcast", "post", s.SandboxBroadcastSerializer, "Рассылка оператора по чатам песочницы (bulkMessages или "
    "sendMessage)", s.SandboxBroadcastResultSerializer, status=201)
