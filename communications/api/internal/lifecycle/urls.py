from django.urls import path

from communications.api.internal.lifecycle import views

urlpatterns = [
    path("providers", views.ProviderView.as_view(), name="internal-providers"),
    path("app-versions", views.AppVersionView.as_view(), name="internal-app-versions"),
    path("tenant-configurations", views.TenantConfigurationView.as_view(), name="internal-tenant-configurations"),
]
