"""Admin additions of the platform: the read-only base of every app's admin, shared filters and actions,
unlocking logins locked by django-axes."""

import logging

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from config.errors import ApplicationError

logger = logging.getLogger(__name__)


class ReadOnlyMixin:
    """View only, for model admins and inlines alike: the rows are written by services (APIs, bots, tasks),
    moderators look and never edit by hand. `deletable = True` keeps deleting (rows that are safe to drop)."""

    deletable = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class CappedCountPaginator(Paginator):
    """Counts at most ADMIN_LIST_COUNT_CAP + 1 rows (one statement that stops there) instead of all of them: an exact
    count of a table that grows with every message reads the whole table for every page (issue 19). `capped`: the
    count stopped at the cap (templates/admin/pagination.html then says «более N»)."""

    @cached_property
    def cap(self) -> int:
        return settings.ADMIN_LIST_COUNT_CAP

    @cached_property
    def count(self) -> int:
        if not hasattr(self.object_list, "query"):
            return super().count
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class BigTableAdminMixin:
    """A changelist of a table that grows with every message: the count capped, no second count of the whole table
    (Django's «N из M»), and no `date_hierarchy` (its year and month links read the dates of every row; a
    DateFieldListFilter offers fixed windows instead). `config/tests/test_admin_changelists.py` holds the list."""

    paginator = CappedCountPaginator
    show_full_result_count = False


class NoAddDeleteMixin:
    """Rows that only services create and nobody deletes by hand; moderators may still change some fields
    or run actions on them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OneChoiceFilter(admin.SimpleListFilter):
    """A list filter with one choice, `?<parameter_name>=1`: the rows `narrow(queryset)` keeps."""

    choice = ""  # the choice's label

    def narrow(self, queryset):
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [("1", self.choice)]

    def queryset(self, request, queryset):
        return self.narrow(queryset) if self.value() == "1" else queryset


class TenantsFilter(admin.SimpleListFilter):
    """Customers by default: developers' sandbox tenants (issue 17) are not customers, so the lists and the
    dashboard figures that link here leave them out unless «Песочницы разработчиков» or «Все» is chosen.
    A subclass says which tenants are sandboxes (each app knows its own)."""

    title = "тенанты"
    parameter_name = "tenants"
    CHOICES = (("production", "Клиенты"), ("sandbox", "Песочницы разработчиков"), ("all", "Все"))

    def sandbox_tenants(self):
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return self.CHOICES

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {"selected": (self.value() or "production") == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        if self.value() == "sandbox":
            return queryset.filter(tenant_id__in=self.sandbox_tenants())
        return queryset.exclude(tenant_id__in=self.sandbox_tenants())


def clipped(text: str, limit: int = 120) -> str:
    """The start of a long text for a change list column, with «…» where it was cut."""
    return (text[:limit] + "…") if len(text) > limit else text


def action_each(model_admin, request, ids, action, done_label: str, *, prefix: str = "") -> None:
    """Run `action(id)` on every selected row and report: how many were done, and which the service refused
    (an ApplicationError) and why — one row refused does not stop the others."""
    done, refused = 0, []
    for pk in ids:
        try:
            action(pk)
            done += 1
        except ApplicationError as exc:
            refused.append(f"{prefix}{pk}: {exc.message}")
    if done:
        model_admin.message_user(request, f"{done_label}: {done}", messages.SUCCESS)
    if refused:
        model_admin.message_user(request, "Пропущены — " + "; ".join(refused[:20]), messages.WARNING)


class UnlockingAccessAttemptAdmin(AccessAttemptAdmin):
    actions = [*AccessAttemptAdmin.actions, "unlock"]

    @admin.action(description="Разблокировать вход (сбросить неудачные попытки)", permissions=["delete"])
    def unlock(self, request, queryset):
        rows = list(queryset.values_list("username", "ip_address"))
        queryset.delete()
        logger.info("logins unlocked by %s: %s", request.user.get_username(), rows)
        self.message_user(request, f"Разблокировано записей: {len(rows)}.")


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, UnlockingAccessAttemptAdmin)
