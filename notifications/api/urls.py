from django.urls import path

from notifications import views as pages
from notifications.api import views

# APPEND_SLASH is off: both `/notifications/send` and `/notifications/send/` are routed.
urlpatterns = [
    path("send", views.SendView.as_view(), name="notifications-send"),
    path("send/", views.SendSlashView.as_view()),
    path("subscribe", views.SubscribeView.as_view(), name="notifications-subscribe"),
    path("subscribe/", views.SubscribeSlashView.as_view()),
    path("unsubscribe/<str:token>", pages.unsubscribe, name="notifications-unsubscribe"),
    path("notify", views.NotifyView.as_view(), name="notifications-notify"),
    path("callback", views.StatusCallbackView.as_view(), name="notifications-callback"),
    path("<uuid:notification_id>", views.NotificationStatusView.as_view(), name="notifications-status"),
    path("preferences", views.PreferencesView.as_view(), name="notifications-preferences"),
    path("recipients/<uuid:recipient_id>", views.RecipientUpsertView.as_view(), name="notifications-recipient"),
    path("recipients/<uuid:recipient_id>/token", views.RecipientTokenView.as_view(),
         name="notifications-recipient-token"),
    path("recipients/<uuid:recipient_id>/binding-links", views.BindingLinksView.as_view(),
         name="notifications-binding-links"),
]
