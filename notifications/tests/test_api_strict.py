"""Issue 18: the spec's answers, strictly (JSON types, blank text, database failures)."""

import contextlib

import psycopg
import pytest
from django.db import connection
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from notifications.api.serializers import SendSerializer, send_data_plain
from notifications.models import Device, Notification
from notifications.tests.factories import send_payload as send_body

SEND_BAD = {"status": "error", "message": "Invalid request format or service."}
SEND_FAILED = {"status": "error", "message": "Failed to send notification."}
SUB_BAD = "Invalid request format or parameters."
SUB_FAILED = {"status": "error", "message": "Failed to process the subscription."}


@pytest.mark.parametrize("field,value", [
    ("user_id", 123),
    ("user_id", 1.5),
    ("user_id", ["x"]),
    ("subject", 123),
    ("subject", 1.5),
    ("subject", True),
    ("message", 42),
    ("message", {"text": "x"}),
    ("service", 1),
    ("type", None),
])
def test_send_refuses_wrong_json_types_with_400(fakes, make_recipient, notifications_service_client, field, value):
    recipient = make_recipient("user")
    response = notifications_service_client.post(
        "/notifications/send", send_body(recipient, **{field: value}), format="json")
    assert response.status_code == 400
    data = response.json()
    assert {k: data[k] for k in ("status", "message")} == SEND_BAD
    assert field in data["errors"]
    assert not Notification.objects.exists() and fakes["smtp"].messages == []


@pytest.mark.parametrize("field,value", [
    ("subject", "   "), ("subject", "\t"), ("message", "\n"), ("message", "  \r\n "), ("message", ""),
])
def test_send_refuses_whitespace_only_text_in_every_field(fakes, make_recipient, notifications_service_client,
                                                         field, value):
    recipient = make_recipient("user")
    response = notifications_service_client.post(
        "/notifications/send", send_body(recipient, **{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Notification.objects.exists()


def test_send_keeps_the_message_text_as_given(fakes, make_recipient, notifications_service_client):
    recipient = make_recipient("user")
    response = notifications_service_client.post(
        "/notifications/send", send_body(recipient, message="  строка 1\nстрока 2  "), format="json")
    assert response.status_code == 200
    assert Notification.objects.get().message == "  строка 1\nстрока 2  "


@pytest.mark.parametrize("body,field", [
    ({"device_id": 123}, "device_id"),
    ({"device_id": "   "}, "device_id"),
    ({"device_id": "\n"}, "device_id"),
    ({"user_id": 123}, "user_id"),
    ({"previous_device_id": 5}, "previous_device_id"),
    ({"previous_device_id": "  "}, "previous_device_id"),
])
def test_subscribe_refuses_wrong_types_and_blank_text(make_recipient, notifications_service_client, body, field):
    recipient = make_recipient("user")
    payload = {"user_id": str(recipient.pk), "device_id": "sub-1", **body}
    response = notifications_service_client.post("/notifications/subscribe", payload, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == "error" and response.json()["message"] == SUB_BAD
    assert field in response.json()["errors"]
    assert not Device.objects.exists()


@contextlib.contextmanager
def table_locked(table: str):
    """Another session holds an ACCESS EXCLUSIVE lock; this session gives up after 300 ms.

    A real PostgreSQL failure (query_canceled) for the request, with no mock in the code path.
    """
    settings_dict = connection.settings_dict
    other = psycopg.connect(dbname=settings_dict["NAME"], user=settings_dict["USER"],
                            host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432,
                            password=settings_dict["PASSWORD"] or None)
    try:
        other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '300ms'")
        yield
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_send_with_the_database_failing_answers_spec_500(fakes, make_recipient, notifications_service_client):
    recipient = make_recipient("user")
    with table_locked("notifications_notification"):
        response = notifications_service_client.post("/notifications/send", send_body(recipient), format="json")
    assert response.status_code == 500
    assert response.json() == SEND_FAILED
    assert fakes["smtp"].messages == [] and not Notification.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_subscribe_with_the_database_failing_answers_spec_500(make_recipient, notifications_service_client):
    recipient = make_recipient("user")
    with table_locked("notifications_device"):
        response = notifications_service_client.post(
            "/notifications/subscribe", {"user_id": str(recipient.pk), "device_id": "sub-x"}, format="json")
    assert response.status_code == 500
    assert response.json() == SUB_FAILED
    assert not Device.objects.exists()


# `/send` validates a plainly valid body without DRF (issue 19); anything else goes to `SendSerializer`. Both must
# agree: the plain path returns the serializer's data exactly, or steps aside.
_texts = st.one_of(
    st.sampled_from(["", " ", "Сделка", " Сделка", "Сделка ", "a\nb", "a\rb", "a\x00b", "\ud800", "\u2003x\u2003",
                     "x" * 255, "x" * 256, "y" * 10000, "y" * 10001, "telegram", "notification",
                     "7f2a4c3e-1b9d-4c55-8e21-4f6b1c0d9a77", "7F2A4C3E1B9D4C558E214F6B1C0D9A77",
                     "{7f2a4c3e-1b9d-4c55-8e21-4f6b1c0d9a77}"]),
    st.text(max_size=40))
_values = st.one_of(_texts, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.lists(st.text(), max_size=2))
_uuids = st.uuids().flatmap(lambda u: st.sampled_from([str(u), u.hex, str(u).upper(), f"{{{u}}}", f"urn:uuid:{u}"]))
_words = st.text(st.sampled_from("Сделка№1«этап»x"), min_size=1, max_size=260)
_spaced = st.text(st.sampled_from("Сделка №1 x\u2003\t\n\r\x00"), min_size=1, max_size=40)


def _mostly(valid, rest=_values):
    """Three valid values in four: the plain path must be taken often enough to be compared."""
    return st.integers(0, 3).flatmap(lambda n: rest if n == 0 else valid)


_bodies = st.fixed_dictionaries({
    "user_id": _mostly(_uuids),
    "service": _mostly(st.sampled_from(["telegram", "vk", "push", "email"])),
    "subject": _mostly(st.one_of(_words, _spaced)),
    "type": _mostly(st.sampled_from(["notification", "critical", "deadline"])),
    "message": _mostly(st.one_of(_words, _spaced, st.text(min_size=1, max_size=60))),
}, optional={"extra": _values})


@hsettings(max_examples=400, deadline=None)
@given(body=_bodies)
def test_send_data_plain_agrees_with_the_serializer(body):
    plain = send_data_plain(body)
    serializer = SendSerializer(data=body)
    if plain is not None:
        assert serializer.is_valid(), serializer.errors
        assert plain == dict(serializer.validated_data)
        assert {k: type(v) for k, v in plain.items()} == {k: type(v) for k, v in serializer.validated_data.items()}


def test_send_data_plain_takes_an_ordinary_body():
    body = {"user_id": "7f2a4c3e-1b9d-4c55-8e21-4f6b1c0d9a77", "service": "telegram", "subject": "Сделка",
            "type": "notification", "message": "Сделка №1 перешла на этап «Согласование».\n"}
    serializer = SendSerializer(data=body)
    assert serializer.is_valid()
    assert send_data_plain(body) == dict(serializer.validated_data)
