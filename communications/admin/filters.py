"""List filters shared by the communications admin."""

from django.contrib import admin

from communications.services.sandbox_limits import sandbox_tenants


class SandboxTenantsFilter(admin.SimpleListFilter):
    """Customers by default: developers' sandbox tenants (issue 17) are not customers, so the lists and the
    dashboard figures that link here leave them out unless «Песочницы разработчиков» or «Все» is chosen."""

    title = "тенанты"
    parameter_name = "tenants"
    CHOICES = (("production", "Клиенты"), ("sandbox", "Песочницы разработчиков"), ("all", "Все"))

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
            return queryset.filter(tenant_id__in=sandbox_tenants())
        return queryset.exclude(tenant_id__in=sandbox_tenants())
