"""Mounted at /internal/v1/marketplace/ (see docs/marketplace-and-configurations.md)."""

from django.urls import path

from marketplace.api import sandbox_views as sandbox
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
    path("sandbox", sandbox.SandboxView.as_view(), name="marketplace-sandbox"),
    path("sandbox/installations", sandbox.SandboxInstallView.as_view(), name="marketplace-sandbox-install"),
    path("sandbox/tokens", sandbox.SandboxTokenView.as_view(), name="marketplace-sandbox-tokens"),
    path("sandbox/tokens/<uuid:token_id>", sandbox.SandboxTokenRevokeView.as_view(),
         name="marketplace-sandbox-token"),
    path("sandbox/chats", sandbox.SandboxChatsView.as_view(), name="marketplace-sandbox-chats"),
    path("sandbox/reset", sandbox.SandboxResetView.as_view(), name="marketplace-sandbox-reset"),
    path("sandbox/operator/messages", sandbox.SandboxSendView.as_view(), name="marketplace-sandbox-send"),
    path("sandbox/operator/messages/<int:message_id>", sandbox.SandboxEditView.as_view(),
         name="marketplace-sandbox-edit"),
    path("sandbox/operator/messages/<int:message_id>/status", sandbox.SandboxStatusView.as_view(),
         name="marketplace-sandbox-status"),
    path("sandbox/operator/chats/<str:chat_id>/read", sandbox.SandboxReadView.as_view(),
         name="marketplace-sandbox-read"),
    path("sandbox/operator/broadcast", sandbox.SandboxBroadcastView.as_view(), name="marketplace-sandbox-broadcast"),
    path("installations", views.InstallationView.as_view(), name="marketplace-installations"),
]
