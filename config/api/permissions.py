"""Who may call what.

Internal callers are service accounts: Django users in one of the service groups
below (created by `manage.py create_service_account`). Their JWT comes from
`/api/auth/token/`. Membership is checked against the database on each request,
so removing an account from a group takes effect at once.
"""

from rest_framework.permissions import BasePermission

SERVICE_MARKETPLACE = "service:marketplace"
SERVICE_CRM = "service:crm"
SERVICE_NOTIFICATIONS = "service:notifications"
SERVICE_GROUPS = (SERVICE_MARKETPLACE, SERVICE_CRM, SERVICE_NOTIFICATIONS)


def user_in_group(user, group_name: str) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    cache = getattr(user, "_service_groups_cache", None)
    if cache is None:
        cache = set(user.groups.filter(name__in=SERVICE_GROUPS).values_list("name", flat=True))
        user._service_groups_cache = cache
    return group_name in cache


def is_service_account(user) -> bool:
    return any(user_in_group(user, group) for group in SERVICE_GROUPS)


class _ServicePermission(BasePermission):
    group_name = ""
    message = "Требуется сервисная учётная запись."

    def has_permission(self, request, view):
        return user_in_group(request.user, self.group_name)


def service_permission(name: str, group_name: str) -> type[BasePermission]:
    """The permission class of one service group: only its members may call."""
    return type(name, (_ServicePermission,), {"group_name": group_name, "__module__": __name__})


IsMarketplaceService = service_permission("IsMarketplaceService", SERVICE_MARKETPLACE)
IsCRMService = service_permission("IsCRMService", SERVICE_CRM)
IsNotificationsService = service_permission("IsNotificationsService", SERVICE_NOTIFICATIONS)
