"""Admin: ONE page of every outbound call, whatever its kind (`/admin/communications/delivery/all/`).

Provider calls, webhooks, notification status events and notification sends (`communications.Delivery`),
initial-sync pages (`communications.InitialSync`) and test-stand runs (`communications.ConformanceRun`),
newest first, filterable by kind, status, tenant and provider (for notifications: the channel), with
retry and cancel where the kind allows them. Each row links to its own detailed admin page.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from config.api.errors import ApplicationError

LIMIT = 200
# every kind on the engine's row, `communications.Delivery` (sync pages and test-stand runs keep their own)
ENGINE_ROW_KINDS = ("provider", "webhook", "callback", "notification")
KINDS = {"provider": "Эндпоинт провайдера", "webhook": "Вебхук", "callback": "Событие статуса уведомления",
         "notification": "Уведомление",
         "sync": "Первичная синхронизация", "teststand": "Прогон тестового стенда"}


@dataclass
class Row:
    kind: str
    pk: object
    at: datetime
    target: str
    tenant: str
    provider: str
    status: str
    status_label: str
    attempts: int
    error: str
    url: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.pk}"


def _engine_row(d) -> Row:
    if d.kind == "notification":  # the history row is the page people know; the engine row is linked from it
        notification = d.payload.get("notification", "")
        target, url = f"{d.endpoint} · уведомление {notification}", reverse(
            "admin:notifications_notification_change", args=[notification])
    else:
        target, url = d.endpoint, reverse("admin:communications_delivery_change", args=[d.pk])
    return Row(d.kind, d.pk, d.created_at, target, str(d.tenant_id or ""), d.provider.code if d.provider_id else "",
               d.status, d.get_status_display(), d.attempts, d.last_error, url)


def _rows(filters: dict) -> list[Row]:
    from communications.models import ConformanceRun, Delivery, InitialSync

    kind, status, tenant, provider = (filters.get(k, "") for k in ("kind", "status", "tenant", "provider"))
    rows: list[Row] = []
    if kind in ("", *ENGINE_ROW_KINDS):
        qs = Delivery.objects.select_related("provider").order_by("-id")
        qs = qs.filter(kind=kind) if kind else qs
        qs = qs.filter(status=status) if status else qs
        qs = qs.filter(tenant_id=tenant) if tenant else qs
        # for notification sends the "provider" filter is the channel
        qs = qs.filter(Q(provider__code=provider) | Q(kind=Delivery.Kind.NOTIFICATION, endpoint=provider)) \
            if provider else qs
        rows += [_engine_row(d) for d in qs[:LIMIT]]
    if kind in ("", "sync"):
        qs = InitialSync.objects.select_related("provider").order_by("-id")
        qs = qs.filter(status=status) if status else qs
        qs = qs.filter(tenant_id=tenant) if tenant else qs
        qs = qs.filter(provider__code=provider) if provider else qs
        rows += [Row("sync", s.pk, s.updated_at, f"getMessageHistory, страниц {s.pages_done}", str(s.tenant_id),
                     s.provider.code, s.status, s.get_status_display(), s.attempts, s.last_error,
                     reverse("admin:communications_initialsync_change", args=[s.pk])) for s in qs[:LIMIT]]
    if kind in ("", "teststand") and not tenant:
        qs = ConformanceRun.objects.select_related("provider").order_by("-id")
        qs = qs.filter(status=status) if status else qs
        qs = qs.filter(provider__code=provider) if provider else qs
        rows += [Row("teststand", r.pk, r.created_at, f"версия {r.app_version}", str(r.sandbox_tenant_id),
                     r.provider.code, r.status, r.get_status_display(), 0, r.summary,
                     reverse("admin:communications_conformancerun_change", args=[r.pk])) for r in qs[:LIMIT]]
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:LIMIT]


def _statuses() -> list[tuple[str, str]]:
    from communications.models import ConformanceRun, Delivery, InitialSync
    from notifications.models import Notification

    seen: dict[str, str] = {}
    for choices in (Delivery.Status.choices, Notification.Status.choices, InitialSync.Status.choices,
                    ConformanceRun.Status.choices):
        for value, label in choices:
            seen.setdefault(value, label)
    return sorted(seen.items())


def retry(kind: str, pk: str) -> None:
    """Retry by kind: a dead/refused/unknown engine row, a failed sync."""
    from communications.models import Delivery, InitialSync
    from communications.services import deliveries
    from communications.services.sync import initial_sync_resume
    from notifications.services import notification_resend

    if kind == "notification":  # the history row goes back to pending with it
        notification_resend(notification_id=Delivery.objects.get(pk=int(pk)).payload["notification"])
    elif kind in ENGINE_ROW_KINDS:
        deliveries.delivery_retry(delivery_id=int(pk))
    elif kind == "sync":
        sync = InitialSync.objects.get(pk=int(pk))
        if sync.status != InitialSync.Status.FAILED:
            raise ApplicationError("Возобновить можно только синхронизацию с ошибкой.")
        initial_sync_resume(sync=sync)
    else:
        raise ApplicationError("Прогон тестового стенда запускается заново со страницы версии.")


def cancel(kind: str, pk: str) -> None:
    from communications.services import deliveries

    if kind in ENGINE_ROW_KINDS:
        deliveries.delivery_cancel(delivery_id=int(pk))
    else:
        raise ApplicationError("Отменить можно только доставку движка (вызов провайдера, вебхук, событие, "
                               "отправку уведомления).")


def all_deliveries_view(request, model_admin):
    if not request.user.has_perm("communications.view_delivery"):
        raise PermissionDenied
    if request.method == "POST":
        if not (request.user.has_perm("communications.change_delivery")
                and request.user.has_perm("notifications.change_notification")):
            raise PermissionDenied
        action = retry if request.POST.get("action") == "retry" else cancel
        done, skipped = 0, []
        for key in request.POST.getlist("selected"):
            kind, _, pk = key.partition(":")
            try:
                action(kind, pk)
                done += 1
            except ApplicationError as exc:
                skipped.append(f"{key}: {exc.message}")
        if done:
            messages.success(request, f"Выполнено: {done}")
        if skipped:
            messages.warning(request, "Пропущены — " + "; ".join(skipped[:20]))
        return redirect(request.get_full_path())
    filters = {key: request.GET.get(key, "").strip() for key in ("kind", "status", "tenant", "provider")}
    context = {**model_admin.admin_site.each_context(request), "title": "Все доставки", "rows": _rows(filters),
               "filters": filters, "kinds": KINDS, "statuses": _statuses(), "opts": model_admin.model._meta,
               "limit": LIMIT}
    return TemplateResponse(request, "admin/delivery/all.html", context)
