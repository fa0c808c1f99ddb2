"""Issue 18: HTML email per role with a text alternative and RFC 8058 one-click unsubscribe."""

import logging
from urllib.parse import urlsplit

import pytest
from django.test import Client

from notifications.models import NotificationPreference, PreferenceChange
from notifications.tests.factories import send_payload


def list_unsubscribe_path(mail) -> str:
    value = str(mail["List-Unsubscribe"]).strip()  # a long header arrives folded
    assert value.startswith("<") and value.endswith(">")
    return urlsplit(value[1:-1]).path


@pytest.mark.parametrize("role,badge", [("user", ""), ("moderator", "модерация"), ("admin", "администрирование")])
def test_email_is_html_plus_spec_text_from_a_role_template(fakes, make_recipient, send, role, badge):
    recipient = make_recipient(role)
    assert send(send_payload(recipient, subject="Отчёт <готов>", message="Строка 1\nСтрока 2")).status_code == 200
    mail = fakes["smtp"].messages[-1]
    assert mail["Subject"] == "Отчёт <готов> | notification"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert text.replace("\r\n", "\n").strip() == "Строка 1\nСтрока 2"  # the spec's plain format stays the text part
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Отчёт &lt;готов&gt;" in html and "Строка 1<br>Строка 2" in html  # escaped
    assert badge in html
    assert "Отписаться" in html


def test_email_carries_rfc8058_headers_and_mandatory_types_do_not(fakes, make_recipient, send):
    admin = make_recipient("admin")
    send(send_payload(admin, type="deadline"))
    mail = fakes["smtp"].messages[-1]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["List-Unsubscribe"]).strip().startswith("<http://localhost:8000/notifications/unsubscribe/")
    send(send_payload(admin, type="critical"))
    critical = fakes["smtp"].messages[-1]
    assert critical["List-Unsubscribe"] is None and critical["List-Unsubscribe-Post"] is None
    assert "отписаться от него нельзя" in critical.get_body(preferencelist=("html",)).get_content()


def test_one_click_unsubscribe_works_without_login_and_is_logged(fakes, make_recipient, send, caplog):
    # given an email with the unsubscribe header
    recipient = make_recipient("manager")
    send(send_payload(recipient, type="deadline"))
    path = list_unsubscribe_path(fakes["smtp"].messages[-1])
    anonymous = Client(enforce_csrf_checks=True)
    # when a mail scanner opens the link, nothing changes
    page = anonymous.get(path)
    assert page.status_code == 200 and "Отписаться" in page.content.decode()
    assert not NotificationPreference.objects.exists()
    # when the mail client posts the RFC 8058 one-click body
    with caplog.at_level(logging.INFO, logger="notifications.views"):
        response = anonymous.post(path, "List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded")
    # then deadline emails are muted, audited and logged; other channels untouched
    assert response.status_code == 200 and "Готово" in response.content.decode()
    pref = NotificationPreference.objects.get(recipient=recipient)
    assert (pref.type, pref.channel, pref.enabled) == ("deadline", "email", False)
    change = PreferenceChange.objects.get(recipient=recipient)
    assert (change.setting, change.old_value, change.new_value, change.source) == (
        "deadline/email", "on", "off", "email_unsubscribe")
    assert any("email unsubscribe" in r.getMessage() and str(recipient.pk) in r.getMessage() for r in caplog.records)


def test_unsubscribe_link_cannot_be_forged(fakes, make_recipient, send):
    alice, bob = make_recipient("user"), make_recipient("user")
    send(send_payload(alice))
    path = list_unsubscribe_path(fakes["smtp"].messages[-1])
    token = path.rsplit("/", 1)[-1]
    value, signature = token.rsplit(":", 1)
    forged = [
        f"/notifications/unsubscribe/{value}:{'A' * len(signature)}",
        f"/notifications/unsubscribe/{value.replace(str(alice.pk)[:4], str(bob.pk)[:4])}x:{signature}",
        "/notifications/unsubscribe/garbage",
    ]
    for bad in forged:
        response = Client().post(bad, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400 and "недействительна" in response.content.decode()
    assert not NotificationPreference.objects.exists() and not PreferenceChange.objects.exists()


def test_unsubscribed_email_is_still_sent_by_explicit_send(fakes, make_recipient, send):
    recipient = make_recipient("user")
    send(send_payload(recipient))
    Client().post(list_unsubscribe_path(fakes["smtp"].messages[-1]), "List-Unsubscribe=One-Click",
                  content_type="application/x-www-form-urlencoded")
    assert send(send_payload(recipient)).status_code == 200  # /send is explicit; preferences drive notify
    assert len(fakes["smtp"].messages) == 2
