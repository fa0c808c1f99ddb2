"""Password guessing: logins are locked per username and per client after repeated failures
(django-axes), on the admin and on `/api/auth/token/`; an administrator can unlock at once.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from .callers import client_for

PROXY = "172.28.0.10"
LIMIT = 5


@pytest.fixture
def lockout(settings, monkeypatch):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.AXES_FAILURE_LIMIT = LIMIT
    # the anonymous rate limit is tested elsewhere; here only the lockout may refuse
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"principal": "100000/min", "anon": "100000/min"})
    return settings


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "right-pass-123")


@pytest.fixture
def developer(db):
    return get_user_model().objects.create_user("dev-7", password="right-pass-123")


def _admin_login(client: Client, password: str, address: str = "203.0.113.9"):
    return client.post("/admin/login/?next=/admin/", {"username": "boss", "password": password},
                       REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)


def _token(username: str, password: str, address: str):
    return client_for(None).post("/api/auth/token/", {"username": username, "password": password}, format="json",
                                 REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)


def test_forty_wrong_admin_passwords_then_the_right_one_is_refused(lockout, admin_user):
    client = Client()
    # when: 40 wrong passwords, then the right one
    codes = [_admin_login(client, f"wrong-{i}").status_code for i in range(40)]
    right = _admin_login(client, "right-pass-123")
    # then: the form answers until the limit, then the lockout; the right password does not get in
    assert codes[:LIMIT - 1] == [200] * (LIMIT - 1)
    assert set(codes[LIMIT:]) == {429}
    assert right.status_code == 429
    assert "Вход временно заблокирован" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_administrator_unlocks_with_the_admin_action(lockout, admin_user):
    for i in range(LIMIT):
        _admin_login(Client(), f"wrong-{i}")
    assert _admin_login(Client(), "right-pass-123").status_code == 429
    # when: another administrator runs the unlock action on the attempts
    other = get_user_model().objects.create_superuser("root2", "r@example.com", "x")
    moderator = Client()
    moderator.force_login(other)
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    response = moderator.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids})
    assert response.status_code == 302
    # then: the right password gets in
    assert not AccessAttempt.objects.exists()
    assert _admin_login(Client(), "right-pass-123").status_code == 302


def test_token_endpoint_locks_a_username_guessed_from_many_clients(lockout, developer):
    # when: every guess comes from another client address
    codes = [_token("dev-7", f"wrong-{i}", f"198.51.100.{i}").status_code for i in range(LIMIT + 3)]
    # then
    assert codes[:LIMIT - 1] == [401] * (LIMIT - 1)
    assert set(codes[LIMIT:]) == {429}
    right = _token("dev-7", "right-pass-123", "198.51.100.200")
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "login_locked"
    assert "access" not in right.json()
    assert int(right["Retry-After"]) > 0


def test_token_endpoint_locks_a_client_guessing_many_usernames(lockout, developer):
    codes = [_token(f"user-{i}", "wrong", "198.51.100.50").status_code for i in range(LIMIT + 2)]
    assert set(codes[LIMIT:]) == {429}
    # the guesser's address is locked, the developer elsewhere is not
    assert _token("dev-7", "right-pass-123", "198.51.100.50").status_code == 429
    assert _token("dev-7", "right-pass-123", "198.51.100.51").status_code == 200


def test_a_forged_forwarded_for_does_not_escape_the_client_lockout(lockout, developer):
    # the guesser talks to gunicorn directly and rotates X-Forwarded-For: it is one client
    codes = [client_for(None).post("/api/auth/token/", {"username": f"user-{i}", "password": "x"}, format="json",
                                   REMOTE_ADDR="203.0.113.77", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
             for i in range(LIMIT + 2)]
    assert set(codes[LIMIT:]) == {429}


def test_the_lockout_ends_after_the_cool_off_period(lockout, developer):
    for i in range(LIMIT):
        _token("dev-7", f"wrong-{i}", "198.51.100.60")
    assert _token("dev-7", "right-pass-123", "198.51.100.61").status_code == 429
    # when: the cool-off period has passed since the last failure
    AccessAttempt.objects.update(attempt_time=timezone.now() - lockout.AXES_COOLOFF_TIME - timedelta(seconds=1))
    # then
    assert _token("dev-7", "right-pass-123", "198.51.100.61").status_code == 200


def test_hostile_usernames_and_forwarded_addresses_are_counted_not_500(lockout, developer):
    # a username far over the column size, and a garbage address from the proxy
    assert _token("u" * 200_000, "wrong", "198.51.100.70").status_code == 401
    assert _token("dev-7", "wrong", "not-an-address").status_code == 401
    assert AccessAttempt.objects.filter(username="u" * 150).exists()
    assert AccessAttempt.objects.filter(username="dev-7", ip_address=PROXY).exists()
