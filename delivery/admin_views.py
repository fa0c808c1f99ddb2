"""Admin: ONE page of every outbound call, whatever its kind (`/admin/communications/delivery/all/`).

Every kind is a row of the engine (`communications.Delivery`): provider calls, webhooks, notification
status events, notification sends, initial-sync pages and test-stand runs; newest first, filterable by
kind, status, tenant and provider (for notifications: the channel), with retry and cancel where the kind
allows them. Each row links to the admin page people know for it (the call, the notification, the
initial sync, the test-stand run).
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from config.errors import ApplicationError
from delivery import engine

LIMIT = 200
KINDS = {"provider": "Эндпоинт провайдера", "webhook": "Вебхук", "callback": "Событие статуса уведомления",
         "notification": "Уведомление", "sync_page": "Страница первичной синхронизации",
         "sync_import": "Загрузка страницы первичной синхронизации",
         "teststand_run": "Прогон тестового стенда", "attachment_fetch": "Загрузка вложения по URL"}


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


def _target(d) -> tuple[str, str]:
    """What the row is about, and the admin page people know for it (the engine row is linked from there)."""
    if d.kind == "notification":
        notification = d.payload.get("notification", "")
        return f"{d.endpoint} · уведомление {notification}", reverse(
            "admin:notifications_notification_change", args=[notification])
    if d.kind in ("sync_page", "sync_import"):
        sync, page = d.payload.get("sync"), d.payload.get("page", 0) + 1
        action = "загрузка · " if d.kind == "sync_import" else ""
        return f"{action}{d.endpoint} · синхронизация {sync}, страница {page}", reverse(
            "admin:communications_initialsync_change", args=[sync])
    if d.kind == "teststand_run":
        run = d.payload.get("run")
        return f"прогон тестового стенда #{run}", reverse("admin:communications_conformancerun_change", args=[run])
    if d.kind == "attachment_fetch":
        return f"вложение #{d.payload.get('attachment')} по URL", reverse(
            "admin:communications_delivery_change", args=[d.pk])
    return d.endpoint, reverse("admin:communications_delivery_change", args=[d.pk])


def _engine_row(d) -> Row:
    target, url = _target(d)
    return Row(d.kind, d.pk, d.created_at, target, str(d.tenant_id or ""), d.provider.code if d.provider_id else "",
               d.status, d.get_status_display(), d.attempts, d.last_error, url)


def _rows(filters: dict) -> list[Row]:
    from communications.models import Delivery

    kind, status, tenant, provider = (filters.get(k, "") for k in ("kind", "status", "tenant", "provider"))
    qs = Delivery.objects.select_related("provider").order_by("-id")
    qs = qs.filter(kind=kind) if kind else qs
    qs = qs.filter(status=status) if status else qs
    qs = qs.filter(tenant_id=tenant) if tenant else qs
    # for notification sends the "provider" filter is the channel
    qs = qs.filter(Q(provider__code=provider) | Q(kind=Delivery.Kind.NOTIFICATION, endpoint=provider)) \
        if provider else qs
    return [_engine_row(d) for d in qs[:LIMIT]]


def _statuses() -> list[tuple[str, str]]:
    from communications.models import Delivery

    return sorted(Delivery.Status.choices)


def retry(kind: str, pk: str) -> None:
    """A fresh cycle for a dead, refused or unknown row; the kind decides what that means."""
    from communications.models import Delivery, InitialSync
    from communications.services.sync import initial_sync_resume
    from notifications.services import notification_resend

    delivery = Delivery.objects.filter(pk=int(pk), kind=kind).first() if pk.isdigit() else None
    if delivery is None:
        raise ApplicationError("Доставка не найдена.")
    if kind == "notification":  # the history row goes back to pending with it
        notification_resend(notification_id=delivery.payload["notification"])
    elif kind == "attachment_fetch":  # the attachment waits for its file again
        from communications.services.attachment_fetch import attachment_fetch_retry

        attachment_fetch_retry(delivery_id=delivery.pk)
    elif kind in ("sync_page", "sync_import"):  # fresh imports of the kept pages, a fresh fetch from the cursor
        sync = InitialSync.objects.filter(pk=delivery.payload["sync"]).first()
        if sync is None or sync.status != InitialSync.Status.FAILED:
            raise ApplicationError("Возобновить можно только синхронизацию с ошибкой.")
        initial_sync_resume(sync=sync)
    elif kind == "teststand_run":
        raise ApplicationError("Прогон тестового стенда запускается заново со страницы версии.")
    else:
        engine.delivery_retry(delivery_id=delivery.pk)


def cancel(kind: str, pk: str) -> None:
    from communications.models import Delivery

    if not (pk.isdigit() and Delivery.objects.filter(pk=int(pk), kind=kind).exists()):
        raise ApplicationError("Доставка не найдена.")
    engine.delivery_cancel(delivery_id=int(pk))


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
