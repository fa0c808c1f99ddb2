from communications.api.internal.lifecycle import views
from config.api.routes import route

urlpatterns = [
    route("providers", views.ProviderView, "internal-providers"),
    route("app-versions", views.AppVersionView, "internal-app-versions"),
    route("tenant-configurations", views.TenantConfigurationView, "internal-tenant-configurations"),
]
