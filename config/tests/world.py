"""One complete set of rows across every admin-registered model, for admin tests.

`world_create()` may be called repeatedly; every call adds a new, independent set
(a provider app with a configuration, a tenant, its conversation, deliveries, a
notification recipient with history). Secrets in it are recognisable so tests can
assert they never reach a page.
"""

import itertools
import uuid
from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from bots.models import PendingBinding
from bots.tests.factories import ProcessedUpdateFactory
from communications.models import (
    Account,
    Channel,
    Chat,
    ConformanceCheck,
    Delivery,
    InitialSync,
    IntegrationToken,
    Message,
    MessageEdit,
    MessageStatusHistory,
    Participant,
    ProviderSigningSecret,
    SandboxTenant,
    TenantConfiguration,
    Webhook,
)
from communications.services import providers as provider_services
from communications.tests.factories import (
    ConformanceRunFactory,
    DeliveryAttemptFactory,
    DeliveryFactory,
)
from config.tests.factories import UserFactory
from marketplace import services as marketplace_services
from marketplace.models import Installation
from marketplace.tests.factories import ProviderCompanyFactory
from notifications import models as n
from notifications.tests.factories import (
    DeviceFactory,
    NotificationFactory,
    NotifyRequestFactory,
    RecipientFactory,
    ServiceBindingFactory,
    StatusCallbackFactory,
)

API_KEY = "sk-live-very-secret-api-key-0042"
WEBHOOK_SECRET = "whsec_webhook-secret-value-0042"
SIGNING_SECRET = "whsec_signing-secret-value-0042"

_seq = itertools.count(1)


def configuration_data(endpoints: dict, *, version: str = "1.0.0") -> dict:
    return {"configurationVersion": version, "providerLabel": "Провайдер", "endpoints": endpoints,
            "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": API_KEY}}


def provider_endpoints(base: str = "https://provider.example") -> dict:
    names = ("sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead", "disconnect",
             "getChannels")
    return {name: f"{base}/{name}" for name in names}


def world_create(*, endpoints: dict | None = None) -> dict:
    i = next(_seq)
    user = UserFactory(username=f"dev-{i}")
    Group.objects.get_or_create(name=f"group-{i}")
    company = ProviderCompanyFactory(name=f"Компания {i}")
    company.members.add(user)
    app = marketplace_services.application_create(company=company, code=f"app-{i}", name=f"Чат {i}", actor=user)
    version = marketplace_services.app_version_create(application=app, version="1.0.0", scopes=["communications"])
    provider_services.provider_configuration_upload(app_code=app.code, app_version="1.0.0", mode="create",
                                                    data=configuration_data(endpoints or provider_endpoints()))
    marketplace_services.app_version_submit(version=version, actor=user)
    tenant_id = uuid.uuid4()
    Installation.objects.create(tenant_id=tenant_id, application=app, version=version)
    provider_services.tenant_configuration_create(tenant_id=tenant_id, app_code=app.code, app_version="1.0.0")
    tenant_configuration = TenantConfiguration.objects.select_related("provider", "configuration").get(
        tenant_id=tenant_id)
    provider = tenant_configuration.provider

    IntegrationToken.objects.create(tenant_id=tenant_id, provider=provider, issued_by="test")
    InitialSync.objects.create(tenant_id=tenant_id, provider=provider, tenant_configuration=tenant_configuration)
    main = Account.objects.create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.MAIN)
    child = Account.objects.create(tenant_id=tenant_id, provider=provider, kind=Account.Kind.CHILD, parent=main)
    channel = Channel.objects.create(tenant_id=tenant_id, provider=provider, external_id=f"ch-{i}",
                                     code="telegram", name=f"Бот {i}", account=child)
    chat = Chat.objects.create(tenant_id=tenant_id, provider=provider, external_id=f"chat-{i}", channel=channel)
    Participant.objects.create(chat=chat, external_id=f"p-{i}", name="Клиент")
    message = Message.objects.create(tenant_id=tenant_id, provider=provider, chat=chat, external_id=f"m-{i}",
                                     direction=Message.Direction.INCOMING, text="Здравствуйте")
    MessageEdit.objects.create(message=message, previous_text="Здрасте", new_text="Здравствуйте")
    MessageStatusHistory.objects.create(message=message, status=Message.Status.DELIVERED)
    Webhook.objects.create(tenant_id=tenant_id, provider=provider, url="https://provider.example/hook",
                           secret=WEBHOOK_SECRET, events=["message.created"])
    ProviderSigningSecret.objects.create(provider=provider, secret=SIGNING_SECRET)
    now = timezone.now()
    delivery = DeliveryFactory(tenant_configuration=tenant_configuration, status=Delivery.Status.DEAD, attempts=1,
                               next_attempt_at=now, last_error="HTTP 503: unavailable")
    DeliveryAttemptFactory(delivery=delivery, started_at=now)

    recipient = RecipientFactory(name=f"Получатель {i}", email=f"r{i}@example.com")
    ServiceBindingFactory(recipient=recipient, service="telegram", service_user_id=str(7000 + i))
    n.ServiceBindingHistory.objects.create(recipient=recipient, service="telegram", new_service_user_id=str(7000 + i))
    DeviceFactory(recipient=recipient, device_id=f"device-{i}")
    n.DeviceHistory.objects.create(recipient=recipient, new_device_id=f"device-{i}")
    n.BindingToken.objects.create(recipient=recipient, expires_at=now + timedelta(hours=1))
    notification = NotificationFactory(recipient=recipient, service="push", subject=f"Тема {i}", status="failed",
                                       last_error="OneSignal 400")
    n.PushHistory.objects.create(notification=notification, recipient=recipient, subject="Тема", type="notification",
                                 message="Текст", title="Заголовок", device_ids=[f"device-{i}"])
    notify = NotifyRequestFactory(recipient=recipient, subject=f"Тема {i}", requested_by=user)
    n.Notification.objects.filter(pk=notification.pk).update(notify_request=notify)
    n.NotificationPreference.objects.create(recipient=recipient, type="notification", channel="email", enabled=False)
    n.QuietHours.objects.create(recipient=recipient, start="23:00", end="08:00", timezone="Europe/Moscow")
    n.PreferenceChange.objects.create(recipient=recipient, setting="notification/email", old_value="on",
                                      new_value="off", source="api")
    StatusCallbackFactory(account=user, url="https://hooks.example/n", secret="whsec_c2VjcmV0c2VjcmV0")
    sandbox = SandboxTenant.objects.create(provider=provider, tenant_id=uuid.uuid4())
    run = ConformanceRunFactory(configuration=tenant_configuration.configuration, sandbox_tenant_id=sandbox.tenant_id)
    ConformanceCheck.objects.create(run=run, position=1, endpoint="getChannels", request_url="https://p.example/ch",
                                    idempotency_key=str(uuid.uuid4()), verdict="ok", reason="ok", response_status=200)
    binding_token = n.BindingToken.objects.filter(recipient=recipient).first()
    PendingBinding.objects.create(service="telegram", account_id=str(9000 + i), nonce=uuid.uuid4().hex[:16],
                                  token=binding_token)
    ProcessedUpdateFactory(service="telegram", update_id=str(uuid.uuid4()))
    _login_attempts_create(i)
    return {"user": user, "app": app, "version": version, "provider": provider, "tenant_id": tenant_id,
            "tenant_configuration": tenant_configuration, "delivery": delivery, "recipient": recipient}


def _login_attempts_create(i: int) -> None:
    """django-axes rows: a locked-out username, a login and a failure."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"user_agent": "pytest", "ip_address": f"203.0.113.{i % 250}", "http_accept": "*/*",
            "path_info": "/admin/login/"}
    AccessAttempt.objects.create(username=f"guess-{i}", failures_since_start=10, get_data="", post_data="", **seen)
    AccessLog.objects.create(username=f"dev-{i}", **seen)
    AccessFailureLog.objects.create(username=f"guess-{i}", locked_out=True, **seen)
