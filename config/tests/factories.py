"""Test data of the project's accounts: users and service accounts with ready API clients."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

PASSWORD = "pass-12345-word"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user-{n}")
    # Hashed before the first save: a password set on a saved user moves its token version on
    # (config/auth.py), which would revoke the JWTs the tests issue for it.
    password = factory.LazyFunction(lambda: make_password(PASSWORD))


def jwt_client(user):
    """An APIClient carrying a JWT access token of `user` (`client.user` is the user)."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    client.user = user
    return client


def service_client(username: str, role: str):
    """An APIClient authenticated as a service account of `role` (created if missing)."""
    from config.management.commands.create_service_account import service_account_ensure

    return jwt_client(service_account_ensure(username=username, role=role))
