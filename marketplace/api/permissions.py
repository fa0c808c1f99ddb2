from rest_framework.permissions import BasePermission

from config.api.permissions import is_service_account


class IsDeveloper(BasePermission):
    """A member of a provider company, signed in with a JWT. Service accounts are not developers."""

    message = "Требуется учётная запись разработчика (участника компании-разработчика)."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active) or is_service_account(user):
            return False
        return user.provider_companies.filter(is_blocked=False).exists()
