"""Portal pages of the developer sign-up (`/developers/signup/`): the same marketplace services as the API."""

from types import SimpleNamespace

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from communications.portal.views import PROVIDERS, Page, nav
from config.errors import ApplicationError
from marketplace.api.serializers import SignupSerializer
from marketplace.api.throttling import SignupClientThrottle, SignupEmailThrottle
from marketplace.services import signup

SIGNUP = Page("signup/", "developers-signup", "Регистрация разработчика", "developers/signup.html", PROVIDERS)
CONFIRM = Page("signup/confirm/", "developers-signup-confirm", "Подтверждение адреса",
               "developers/signup_confirm.html", PROVIDERS)


class SignupForm(forms.Form):
    email = forms.EmailField(label="Электронная почта", max_length=150)
    password = forms.CharField(label="Пароль", max_length=128, strip=False, widget=forms.PasswordInput)
    companyName = forms.CharField(label="Название компании", max_length=255)


def _errors_into(form, error: ApplicationError) -> None:
    fields = error.fields or {}
    if not fields:
        form.add_error(None, error.message)
    for field, messages in fields.items():
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(field if field in form.fields else None, str(message))


def _throttled(request) -> bool:
    """The API's sign-up throttles, applied to the form too (per client address and per email)."""
    shim = SimpleNamespace(META=request.META, data=request.POST, user=None, auth=None)
    return not all(throttle.allow_request(shim, None) for throttle in (SignupClientThrottle(), SignupEmailThrottle()))


@require_http_methods(["GET", "POST"])
def signup_page(request):
    form = SignupForm(request.POST or None)
    done = None
    if request.method == "POST" and _throttled(request):
        form.is_valid()
        form.add_error(None, "Слишком много регистраций с этого адреса или для этой почты. Повторите позже.")
        return render(request, SIGNUP.template, {"page": SIGNUP, "nav": nav(), "form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        api = SignupSerializer(data=form.cleaned_data)
        if not api.is_valid():
            for field, messages in api.errors.items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, str(message))
        else:
            try:
                done = signup.developer_signup(
                    email=form.cleaned_data["email"], password=form.cleaned_data["password"],
                    company_name=form.cleaned_data["companyName"],
                    confirm_url=request.build_absolute_uri(reverse(CONFIRM.name)))
            except ApplicationError as exc:
                _errors_into(form, exc)
    context = {"page": SIGNUP, "nav": nav(), "form": form, "done": done,
               "hours": settings.SIGNUP_CONFIRMATION_HOURS, "email": form.cleaned_data.get("email") if done else ""}
    return render(request, SIGNUP.template, context, status=400 if request.method == "POST" and not done else 200)


@require_http_methods(["GET", "POST"])
def signup_confirm_page(request):
    """GET shows a button (mail scanners follow links; the one-time token is spent only by a POST)."""
    token = request.POST.get("token") or request.GET.get("token") or ""
    confirmation, error = None, None
    if request.method == "POST":
        try:
            confirmation = signup.developer_signup_confirm(token=token)
        except ApplicationError as exc:
            error = exc.message
    context = {"page": CONFIRM, "nav": nav(), "token": token, "confirmation": confirmation, "error": error}
    return render(request, CONFIRM.template, context, status=400 if error else 200)

