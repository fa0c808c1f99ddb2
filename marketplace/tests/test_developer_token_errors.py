"""Issue 16 item 8: the developer API says what is wrong with a token, not just «Ошибка запроса.»"""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from marketplace.tests.factories import API

pytestmark = pytest.mark.django_db


def _expired(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))
    return str(token)


@pytest.mark.parametrize(("make", "code", "words"), [
    (_expired, "token_expired", "истёк"),
    (lambda user: str(RefreshToken.for_user(user)), "token_wrong_type", "access"),
    (lambda user: "not-a-jwt", "token_invalid", "повреждён"),
    (lambda user: str(AccessToken.for_user(user))[:-4] + "AAAA", "token_invalid", "повреждён"),
])
def test_token_errors_name_the_problem(developer, make, code, words):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make(developer.user)}")
    response = client.get(f"{API}/scopes")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert error["message"] != "Ошибка запроса."
