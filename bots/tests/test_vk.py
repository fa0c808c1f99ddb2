"""The binding dialogue in VK, driven through the Callback API view and through Bots Long Poll.

What the user sees is read from the fake VK API's recorded `messages.send` calls.
"""

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command

from bots import dialog
from bots.tests.builders import (
    VK_CONFIRMATION,
    VK_GROUP_ID,
    assert_bound_by_the_bot,
    assert_forbidden_and_untouched,
    binding_history,
    vk_buttons,
    vk_message,
    vk_press,
)
from bots.vk import _random_id
from notifications.models import BindingToken, ServiceBinding
from notifications.services import service_binding_set

pytestmark = pytest.mark.django_db


def texts(vk):
    return [m["message"] for m in vk.sent_messages()]


# --- Callback API: confirmation and authentication -------------------------------------------

def test_confirmation_event_is_answered_with_the_configured_string(vk, client):
    response = client.post("/bots/vk/callback", data=json.dumps({"type": "confirmation", "group_id": int(VK_GROUP_ID)}),
                           content_type="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == VK_CONFIRMATION


@pytest.mark.parametrize("event", [{"group_id": 1}, {"group_id": int(VK_GROUP_ID), "secret": "wrong"}])
def test_confirmation_for_another_group_or_with_a_wrong_secret_is_403(vk, client, event):
    response = client.post("/bots/vk/callback", data=json.dumps({"type": "confirmation", **event}),
                           content_type="application/json")
    assert response.status_code == 403
    assert VK_CONFIRMATION not in response.content.decode()


@pytest.mark.parametrize("secret", ["wrong", "", None])
def test_event_with_a_wrong_or_missing_secret_is_403_and_does_nothing(vk, vk_post, token, secret):
    response = vk_post(vk_message(7, ref=token()), secret=secret)
    assert_forbidden_and_untouched(response, vk)


def test_callback_without_a_configured_secret_refuses_events(vk, vk_post, settings):
    settings.VK_CALLBACK_SECRET = ""
    assert vk_post(vk_message(7, "привет"), secret="").status_code == 403


@pytest.mark.parametrize("body", ["{", "[]", '"ok"'])
def test_callback_bad_body_is_a_400_envelope(vk, client, body):
    response = client.post("/bots/vk/callback", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


# --- the full dialogue through the Callback API --------------------------------------------------

def test_new_binding_through_callback_api_asks_then_binds_and_lists_role_types(vk, vk_post, recipient, token):
    # given a user's link https://vk.me/<group>?ref=<token>
    ivan = recipient("user", name="Иван")
    # when the user opens it (VK delivers message_new with `ref`)
    response = vk_post(vk_message(7, "Начать", ref=token(ivan), payload={"command": "start"}))
    # then VK gets `ok` and the user a question with an inline keyboard
    assert response.status_code == 200 and response.content == b"ok"
    [question] = vk.sent_messages()
    assert question["peer_id"] == "7"
    assert question["message"] == "Привязать этот аккаунт ВКонтакте к профилю «Иван» для получения уведомлений?"
    buttons = vk_buttons(question)
    assert [b["label"] for b in buttons] == ["Подтвердить", "Отмена"]
    assert all(json.loads(b["payload"])["bind"].startswith("b:ok:" if i == 0 else "b:no:")
               for i, b in enumerate(buttons))
    assert not ServiceBinding.objects.exists()
    # when the user taps «Подтвердить»
    vk_post(vk_press(7, question, "Подтвердить"))
    # then the account is bound and the bot lists the types of the role «Пользователь»
    assert ServiceBinding.objects.get(recipient=ivan).service_user_id == "7"
    assert binding_history(ivan, "vk") == [("", "7")]
    assert texts(vk)[-1] == ("Готово! Аккаунт ВКонтакте привязан к профилю «Иван».\n"
                             "Ваша роль: Пользователь. Доступные типы уведомлений:\n• Обычное уведомление")
    assert "keyboard" not in vk.sent_messages()[-1]


def test_text_start_with_token_works_too(vk, vk_post, token):
    vk_post(vk_message(8, f"start {token()}"))
    assert vk_buttons(vk.sent_messages()[0])


def test_message_allow_with_key_starts_the_dialogue(vk, vk_post, token):
    vk_post({"type": "message_allow", "group_id": int(VK_GROUP_ID), "event_id": "allow-1",
             "object": {"user_id": 9, "key": token()}})
    assert vk.sent_messages()[0]["peer_id"] == "9" and vk_buttons(vk.sent_messages()[0])


def test_rebinding_an_account_of_another_user(vk, vk_post, recipient, token):
    alice, bob = recipient(name="Алиса"), recipient(name="Боб")
    service_binding_set(recipient=alice, service="vk", service_user_id=7)
    vk_post(vk_message(7, ref=token(bob)))
    [question] = vk.sent_messages()
    assert question["message"].startswith("Этот аккаунт ВКонтакте уже привязан к другому пользователю SberCRM.\n")
    vk_post(vk_press(7, question, "Изменить привязку"))
    assert ServiceBinding.objects.get(service="vk", service_user_id="7").recipient == bob
    assert binding_history(alice, "vk") == [("", "7"), ("7", "")] and binding_history(bob, "vk") == [("", "7")]


def test_cancel_changes_nothing(vk, vk_post, token):
    link = token()
    vk_post(vk_message(7, ref=link))
    question = vk.sent_messages()[0]
    vk_post(vk_press(7, question, "Отмена"))
    assert texts(vk)[-1] == "Привязка отменена, ничего не изменилось."
    vk_post(vk_press(7, question, "Подтвердить"))
    assert texts(vk)[-1] == "Привязка уже отменена."
    assert not ServiceBinding.objects.exists()
    assert BindingToken.objects.get(token=link).used_at is None


def test_double_tap_on_confirm_gives_one_binding(vk, vk_post, recipient, token):
    ivan = recipient()
    vk_post(vk_message(7, ref=token(ivan)))
    question = vk.sent_messages()[0]
    vk_post(vk_press(7, question, "Подтвердить"))
    vk_post(vk_press(7, question, "Подтвердить"))
    assert binding_history(ivan, "vk") == [("", "7")]
    assert texts(vk)[-1] == "Привязка уже подтверждена."


def test_payload_replayed_by_another_account_binds_nothing(vk, vk_post, token):
    vk_post(vk_message(7, ref=token()))
    vk_post(vk_press(666, vk.sent_messages()[0], "Подтвердить"))
    assert not ServiceBinding.objects.exists()
    assert vk.sent_messages()[-1]["peer_id"] == "666" and texts(vk)[-1] == dialog.STALE


def test_unknown_token_gets_a_clear_message(vk, vk_post):
    vk_post(vk_message(7, ref="00000000-0000-0000-0000-000000000000"))
    [sent] = vk.sent_messages()
    assert sent["message"] == dialog.TOKEN_UNKNOWN and "keyboard" not in sent
    assert not ServiceBinding.objects.exists()


def test_repeated_event_id_is_ignored(vk, vk_post, token):
    event = vk_message(7, ref=token())
    vk_post(event)
    assert vk_post(event).content == b"ok"
    assert len(vk.sent_messages()) == 1


def test_group_chat_messages_are_ignored(vk, vk_post, token):
    event = vk_message(7, ref=token())
    event["object"]["message"]["peer_id"] = 2000000001
    vk_post(event)
    assert vk.sent_messages() == []


def test_message_deny_deactivates_the_binding(vk, vk_post, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="vk", service_user_id=7)
    response = vk_post({"type": "message_deny", "group_id": int(VK_GROUP_ID), "event_id": "deny-1",
                        "object": {"user_id": 7}})
    assert response.content == b"ok"
    binding = ServiceBinding.objects.get(recipient=ivan)
    assert not binding.is_active and binding.deactivated_reason == "Пользователь заблокировал бота"


def test_reply_refused_by_vk_privacy_deactivates_the_binding(vk, vk_post, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="vk", service_user_id=7)
    vk.blocked_peers.add("7")
    assert vk_post(vk_message(7, "привет")).content == b"ok"
    assert not ServiceBinding.objects.get(recipient=ivan).is_active


def test_replies_have_a_random_id_derived_from_the_event(vk, vk_post):
    # so VK itself drops a resend of the same reply
    vk_post(vk_message(7, "привет", event_id="event-a"))
    vk_post(vk_message(7, "привет", event_id="event-b"))
    first, second = vk.sent_messages()
    assert first["random_id"] == str(_random_id("event-a", 0)) != second["random_id"]


# --- Bots Long Poll ------------------------------------------------------------------------------------

def run_bot(vk, *events):
    """Run the polling bot for a bounded time; `events` happen once it is listening
    (like VK, the long poll server only serves events newer than the `ts` it handed out)."""
    listening = len(vk.calls("groups.getLongPollServer"))

    def push():
        with vk.changed:
            vk.changed.wait_for(lambda: len(vk.calls("groups.getLongPollServer")) > listening, timeout=5)
        for event in events:
            vk.push_event(event)

    threading.Thread(target=push, daemon=True).start()
    out = StringIO()
    call_command("run_vk_bot", timeout=1, max_seconds=1.5, stdout=out)
    return out.getvalue()


def test_full_dialogue_through_bots_long_poll(vk, recipient, token):
    ivan = recipient(name="Иван")
    # when the polling bot runs for a bounded time and the user opens the link
    output = run_bot(vk, vk_message(11, ref=token(ivan)))
    # then it asked for the long poll server of our group and asked to confirm
    assert vk.calls("groups.getLongPollServer")[0].params["group_id"] == VK_GROUP_ID
    [question] = vk.sent_messages()
    assert question["message"] == "Привязать этот аккаунт ВКонтакте к профилю «Иван» для получения уведомлений?"
    assert "обработано событий: 1" in output
    # when the user taps «Подтвердить» and the bot polls again
    run_bot(vk, vk_press(11, question, "Подтвердить"))
    # then the binding exists and the bot said so once
    assert_bound_by_the_bot(ivan, "vk", "11", texts(vk))


def test_message_deny_through_bots_long_poll(vk, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="vk", service_user_id=12)
    run_bot(vk, {"type": "message_deny", "group_id": int(VK_GROUP_ID), "object": {"user_id": 12}})
    assert not ServiceBinding.objects.get(recipient=ivan).is_active


def test_vk_command_without_token_says_the_bot_is_off(vk, settings):
    settings.VK_GROUP_TOKEN = ""
    assert "VK-бот выключен" in run_bot(vk)
    assert vk.requests == []
