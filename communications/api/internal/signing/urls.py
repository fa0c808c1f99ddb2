from communications.api.internal.signing.views import SigningSecretView
from config.api.routes import route

urlpatterns = [
    route("providers/<slug:code>/signing-secret", SigningSecretView, "provider-signing-secret"),
]
