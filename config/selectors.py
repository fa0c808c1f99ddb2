"""Reads for the moderators' dashboard (the admin front page).

Each figure counts rows and links to the admin list filtered to exactly those rows.
Figures of models the user may not view are left out.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from communications.models import Delivery, IntegrationToken, ProviderDeliveryHealth
from communications.selectors import deliveries as delivery_selectors
from marketplace.models import AppVersion
from marketplace.selectors import app_version_pending_configuration_list, app_version_ready_to_publish_list
from notifications.models import Notification


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    count: int
    url: str
    alarming: bool  # a non-zero value needs attention


def _changelist(model, **query) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Local midnight today and tomorrow, as the admin's date filter («Сегодня») writes them."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today + timedelta(days=1)


def dashboard_figures(*, user, now: datetime | None = None) -> list[Figure]:
    now = now or timezone.now()
    today, tomorrow = _today_bounds(now)
    specs = [
        (AppVersion, "pending", "Версии на модерации",
         lambda: AppVersion.objects.filter(moderation_status=AppVersion.Moderation.PENDING).count(),
         {"moderation_status__exact": AppVersion.Moderation.PENDING}, False),
        (AppVersion, "ready", "Готовы к публикации",
         lambda: app_version_ready_to_publish_list().count(), {"ready": "1"}, False),
        (AppVersion, "pending_configurations", "Новые конфигурации опубликованных версий на проверке",
         lambda: app_version_pending_configuration_list().count(), {"pending_configuration": "1"}, True),
        (ProviderDeliveryHealth, "failing_providers", "Провайдеры с недоставленными вызовами",
         lambda: delivery_selectors.provider_failing_list().count(), {"failing": "1"}, True),
        (Delivery, "dead_24h", "Не доставлено за 24 часа",
         lambda: delivery_selectors.delivery_dead_list(since=now - timedelta(hours=24)).count(),
         {"status__exact": Delivery.Status.DEAD, "updated": "24h"}, True),
        (IntegrationToken, "active_tenants", "Тенанты с активными интеграциями",
         delivery_selectors.tenant_with_active_integration_count,
         {"status__exact": IntegrationToken.Status.ACTIVE}, False),
        (Notification, "failed_today", "Уведомления с ошибкой сегодня",
         lambda: Notification.objects.filter(status=Notification.Status.FAILED, timestamp__gte=today,
                                             timestamp__lt=tomorrow).count(),
         {"status__exact": Notification.Status.FAILED, "timestamp__gte": str(today), "timestamp__lt": str(tomorrow)},
         True),
    ]
    figures = []
    for model, key, label, count, query, alarming in specs:
        if user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"):
            figures.append(Figure(key=key, label=label, count=count(), url=_changelist(model, **query),
                                  alarming=alarming))
    return figures
