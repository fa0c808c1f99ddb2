from communications.api.internal.tokens import views
from config.api.routes import route

urlpatterns = [
    route("integration-tokens", views.IntegrationTokenListView, "integration-tokens"),
    route("integration-tokens/<str:token_id>/deactivate", views.IntegrationTokenDeactivateView, "integration-token-deactivate"),
]
