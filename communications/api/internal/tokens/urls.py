from django.urls import path

from communications.api.internal.tokens import views

urlpatterns = [
    path("integration-tokens", views.IntegrationTokenListView.as_view(), name="integration-tokens"),
    path("integration-tokens/<str:token_id>/deactivate", views.IntegrationTokenDeactivateView.as_view(),
         name="integration-token-deactivate"),
]
