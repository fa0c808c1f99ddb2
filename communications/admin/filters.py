"""List filters shared by the communications admin."""

from communications.services.sandbox_limits import sandbox_tenants
from config.admin import TenantsFilter


class SandboxTenantsFilter(TenantsFilter):
    def sandbox_tenants(self):
        return sandbox_tenants()
