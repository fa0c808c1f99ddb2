"""Developer self-service sign-up (`/internal/v1/marketplace/signup`): no authentication, throttled."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import serializers as s
from marketplace.api.throttling import SignupClientThrottle, SignupEmailThrottle
from marketplace.api.views import _valid
from marketplace.services import signup

TAGS = ["marketplace: регистрация разработчика"]


def confirm_url(request) -> str:
    return request.build_absolute_uri(reverse("developers-signup-confirm"))


class _AnonymousView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class SignupView(_AnonymousView):
    throttle_classes = [SignupClientThrottle, SignupEmailThrottle]

    @extend_schema(operation_id="marketplace_signup", tags=TAGS, auth=[],
                   summary="Зарегистрировать разработчика и компанию (письмо с подтверждением)",
                   request=s.SignupSerializer,
                   responses={201: s.SignupResultSerializer, **s.errors(400, 409, 429, 503, anonymous=True)})
    def post(self, request):
        data = _valid(s.SignupSerializer, request.data)
        company = signup.developer_signup(email=data["email"], password=data["password"],
                                          company_name=data["companyName"], confirm_url=confirm_url(request))
        return Response({"email": signup.normalize_email(data["email"]), "companyId": company.pk,
                         "companyName": company.name, "confirmationSent": True,
                         "expiresInHours": settings.SIGNUP_CONFIRMATION_HOURS}, status=201)


class SignupConfirmView(_AnonymousView):
    @extend_schema(operation_id="marketplace_signup_confirm", tags=TAGS, auth=[],
                   summary="Подтвердить адрес по токену из письма (один раз, до истечения срока)",
                   request=s.SignupConfirmSerializer,
                   responses={200: s.SignupConfirmResultSerializer, **s.errors(400, 409, 410, 429, anonymous=True)})
    def post(self, request):
        confirmation = signup.developer_signup_confirm(token=_valid(s.SignupConfirmSerializer, request.data)["token"])
        company = confirmation.company
        return Response({"email": confirmation.user.email, "companyId": company.pk, "companyName": company.name,
                         "sandboxTenantId": str(company.sandbox_tenant_id)})
