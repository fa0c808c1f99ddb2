"""Mounted at /internal/v1/marketplace/ (see docs/marketplace-and-configurations.md)."""

from config.api.routes import route
from marketplace.api import sandbox_views as sandbox
from marketplace.api import signup_views, views

VERSION = "apps/<slug:code>/versions/<str:version>"

urlpatterns = [
    route("signup", signup_views.SignupView, "marketplace-signup"),
    route("signup/confirm", signup_views.SignupConfirmView, "marketplace-signup-confirm"),
    route("scopes", views.ScopeListView, "marketplace-scopes"),
    route("apps", views.ApplicationListView, "marketplace-apps"),
    route("apps/<slug:code>", views.ApplicationDetailView, "marketplace-app"),
    route("apps/<slug:code>/signing-secret", views.ApplicationSigningSecretView, "marketplace-app-signing-secret"),
    route("apps/<slug:code>/versions", views.AppVersionListView, "marketplace-versions"),
    route(VERSION, views.AppVersionDetailView, "marketplace-version"),
    route(f"{VERSION}/scopes", views.AppVersionScopesView, "marketplace-version-scopes"),
    route(f"{VERSION}/submit", views.AppVersionSubmitView, "marketplace-version-submit"),
    route(f"{VERSION}/testing", views.AppVersionTestingView, "marketplace-version-testing"),
    route(f"{VERSION}/publish", views.AppVersionPublishView, "marketplace-version-publish"),
    route(f"{VERSION}/test-runs", views.TestRunListView, "marketplace-version-test-runs"),
    route(f"{VERSION}/test-runs/<int:run_id>", views.TestRunDetailView, "marketplace-version-test-run"),
    route("provider-configurations", views.ProviderConfigurationView, "marketplace-provider-configurations"),
    route("deliveries", views.DeliveryListView, "marketplace-deliveries"),
    route("deliveries/<int:delivery_id>", views.DeliveryDetailView, "marketplace-delivery"),
    route("deliveries/<int:delivery_id>/retry", views.DeliveryRetryView, "marketplace-delivery-retry"),
    route("deliveries/<int:delivery_id>/cancel", views.DeliveryCancelView, "marketplace-delivery-cancel"),
    route("sandbox", sandbox.SandboxView, "marketplace-sandbox"),
    route("sandbox/installations", sandbox.SandboxInstallView, "marketplace-sandbox-install"),
    route("sandbox/tokens", sandbox.SandboxTokenView, "marketplace-sandbox-tokens"),
    route("sandbox/tokens/<uuid:token_id>", sandbox.SandboxTokenRevokeView, "marketplace-sandbox-token"),
    route("sandbox/chats", sandbox.SandboxChatsView, "marketplace-sandbox-chats"),
    route("sandbox/reset", sandbox.SandboxResetView, "marketplace-sandbox-reset"),
    route("sandbox/operator/messages", sandbox.SandboxSendView, "marketplace-sandbox-send"),
    route("sandbox/operator/messages/<int:message_id>", sandbox.SandboxEditView, "marketplace-sandbox-edit"),
    route("sandbox/operator/messages/<int:message_id>/status", sandbox.SandboxStatusView, "marketplace-sandbox-status"),
    route("sandbox/operator/chats/<str:chat_id>/read", sandbox.SandboxReadView, "marketplace-sandbox-read"),
    route("sandbox/operator/broadcast", sandbox.SandboxBroadcastView, "marketplace-sandbox-broadcast"),
    route("installations", views.InstallationView, "marketplace-installations"),
]
