from django.urls import path

from communications.api.internal.signing.views import SigningSecretView

urlpatterns = [
    path("providers/<slug:code>/signing-secret", SigningSecretView.as_view(), name="provider-signing-secret"),
]
