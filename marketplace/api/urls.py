"""Mounted at /internal/v1/marketplace/ (see docs/marketplace-and-configurations.md)."""

from django.urls import path

from marketplace.api import signup_views, views

VERSION = "apps/<slug:code>/versions/<str:version>"

urlpatterns = [
    path("signup", signup_views.SignupView.as_view(), name="marketplace-signup"),
    path("signup/confirm", signup_views.SignupConfirmView.as_view(), name="marketplace-signup-confirm"),
    path("scopes", views.ScopeListView.as_view(), name="marketplace-scopes"),
    path("apps", views.ApplicationListView.as_view(), name="marketplace-apps"),
    path("apps/<slug:code>", views.ApplicationDetailView.as_view(), name="marketplace-app"),
    path("apps/<slug:code>/signing-secret", views.ApplicationSigningSecretView.as_view(),
         name="marketplace-app-signing-secret"),
    path("apps/<slug:code>/versions", views.AppVersionListView.as_view(), name="marketplace-versions"),
    path(VERSION, views.AppVersionDetailView.as_view(), name="marketplace-version"),
    path(f"{VERSION}/scopes", views.AppVersionScopesView.as_view(), name="marketplace-version-scopes"),
    path(f"{VERSION}/submit", views.AppVersionSubmitView.as_view(), name="marketplace-version-submit"),
    path(f"{VERSION}/testing", views.AppVersionTestingView.as_view(), name="marketplace-version-testing"),
    path(f"{VERSION}/publish", views.AppVersionPublishView.as_view(), name="marketplace-version-publish"),
    path(f"{VERSION}/test-runs", views.TestRunListView.as_view(), name="marketplace-version-test-runs"),
    path(f"{VERSION}/test-runs/<int:run_id>", views.TestRunDetailView.as_view(),
         name="marketplace-version-test-run"),
    path("provider-configurations", views.ProviderConfigurationView.as_view(),
         name="marketplace-provider-configurations"),
    path("deliveries", views.DeliveryListView.as_view(), name="marketplace-deliveries"),
    path("deliveries/<int:delivery_id>", views.DeliveryDetailView.as_view(), name="marketplace-delivery"),
    path("deliveries/<int:delivery_id>/retry", views.DeliveryRetryView.as_view(), name="marketplace-delivery-retry"),
    path("deliveries/<int:delivery_id>/cancel", views.DeliveryCancelView.as_view(),
         name="marketplace-delivery-cancel"),
    path("installations", views.InstallationView.as_view(), name="marketplace-installations"),
]
