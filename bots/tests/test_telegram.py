"""The binding dialogue in Telegram, driven through the webhook view and through long polling.

Every check of what the user sees reads the fake Bot API's recorded requests.
"""

import functools
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from telebot import types

from bots import dialog
from bots.models import PendingBinding
from bots.telegram import telegram_update_handle
from bots.tests.builders import (
    TG_SECRET,
    assert_bound_by_the_bot,
    assert_forbidden_and_untouched,
    binding_history,
    run_bot,
    texts,
    tg_buttons,
    tg_kicked,
    tg_message,
    tg_press,
)
from config.testing.concurrency import at_once
from notifications.clients import telegram_bot
from notifications.models import BindingToken, ServiceBinding, ServiceBindingHistory
from notifications.services import service_binding_set

pytestmark = pytest.mark.django_db


def confirm_data(tg):
    """callback_data of the «confirm» button of the last question."""
    return tg_buttons(tg.sent_messages()[-1])[0][1]


# --- the full dialogue through the webhook ------------------------------------------------

def test_new_binding_through_webhook_asks_then_binds_and_lists_role_types(tg, tg_post, recipient, token):
    # given an administrator's one-time link
    admin = recipient("admin", name="Ольга")
    # when the user opens it (/start <token>)
    assert tg_post(tg_message(42, f"/start {token(admin)}")).status_code == 200
    # then the bot asks to confirm, with two buttons, and nothing is bound yet
    [question] = tg.sent_messages()
    assert question["chat_id"] == "42"
    assert question["text"] == "Привязать этот аккаунт Telegram к профилю «Ольга» для получения уведомлений?"
    buttons = tg_buttons(question)
    assert [label for label, _ in buttons] == ["Подтвердить", "Отмена"]
    assert all(len(data.encode()) <= 64 for _, data in buttons)
    assert not ServiceBinding.objects.exists()

    # when the user confirms
    assert tg_post(tg_press(42, buttons[0][1], message_id=7)).status_code == 200
    # then the account is bound, one history row, and the bot lists the admin's types
    binding = ServiceBinding.objects.get(recipient=admin)
    assert (binding.service, binding.service_user_id, binding.is_active) == ("telegram", "42", True)
    assert binding_history(admin, "telegram") == [("", "42")]
    assert texts(tg)[-1] == (
        "Готово! Аккаунт Telegram привязан к профилю «Ольга».\n"
        "Ваша роль: Администратор. Доступные типы уведомлений:\n"
        "• Обычное уведомление\n• Ошибка\n• Критическое\n• Дедлайн\n• Статус сервиса")
    [answer] = tg.calls("answerCallbackQuery")
    assert answer.params["text"] == "Привязка подтверждена."
    [edit] = tg.calls("editMessageReplyMarkup")  # the buttons of the question are removed
    assert (edit.params["chat_id"], edit.params["message_id"]) == ("42", "7")


def test_user_role_gets_only_the_types_of_its_role(tg, tg_post, token):
    tg_post(tg_message(50, f"/start {token(role='manager', name='')}"))
    assert texts(tg) == ["Привязать этот аккаунт Telegram к вашему профилю SberCRM для получения уведомлений?"]
    tg_post(tg_press(50, confirm_data(tg)))
    assert texts(tg)[-1].endswith("Ваша роль: Менеджер. Доступные типы уведомлений:\n"
                                  "• Обычное уведомление\n• Критическое\n• Дедлайн")


def test_account_bound_to_another_user_is_offered_a_change(tg, tg_post, recipient, token):
    # given Telegram account 42 is bound to Алиса
    alice, bob = recipient(name="Алиса"), recipient(name="Боб")
    service_binding_set(recipient=alice, service="telegram", service_user_id=42)
    # when 42 opens Боб's link
    tg_post(tg_message(42, f"/start {token(bob)}"))
    # then the bot says so and offers to change the binding
    [question] = tg.sent_messages()
    assert question["text"] == ("Этот аккаунт Telegram уже привязан к другому пользователю SberCRM.\n"
                                "Изменить привязку: получать уведомления профилю «Боб» в этом аккаунте Telegram?")
    assert [label for label, _ in tg_buttons(question)] == ["Изменить привязку", "Отмена"]
    # when confirmed, the account moves to Боб, with history on both sides
    tg_post(tg_press(42, confirm_data(tg)))
    assert ServiceBinding.objects.get(service="telegram", service_user_id="42").recipient == bob
    assert binding_history(alice, "telegram") == [("", "42"), ("42", "")]
    assert binding_history(bob, "telegram") == [("", "42")]


def test_profile_bound_to_another_account_is_offered_a_change(tg, tg_post, recipient, token):
    # given the profile is bound to account 41
    ivan = recipient(name="Иван")
    service_binding_set(recipient=ivan, service="telegram", service_user_id=41)
    # when account 42 opens the profile's link and confirms
    tg_post(tg_message(42, f"/start {token(ivan)}"))
    assert texts(tg) == ["К профилю «Иван» уже привязан другой аккаунт Telegram.\n"
                         "Изменить привязку: получать уведомления профилю «Иван» в этом аккаунте Telegram?"]
    tg_post(tg_press(42, confirm_data(tg)))
    # then the binding is overwritten and the history says old → new
    assert ServiceBinding.objects.get(recipient=ivan).service_user_id == "42"
    assert binding_history(ivan, "telegram") == [("", "41"), ("41", "42")]


def test_cancel_changes_nothing_and_a_later_confirm_of_the_same_question_is_refused(tg, tg_post, token):
    link = token()
    tg_post(tg_message(42, f"/start {link}"))
    (_, ok), (_, cancel) = tg_buttons(tg.sent_messages()[0])
    # when the user cancels
    tg_post(tg_press(42, cancel))
    # then nothing is bound, the token stays usable, and the bot says so
    assert texts(tg)[-1] == "Привязка отменена, ничего не изменилось."
    assert tg.calls("answerCallbackQuery")[-1].params["text"] == "Привязка отменена."
    assert not ServiceBinding.objects.exists()
    assert BindingToken.objects.get(token=link).used_at is None
    # when «Подтвердить» of the same (cancelled) question is pressed afterwards
    tg_post(tg_press(42, ok))
    assert not ServiceBinding.objects.exists()
    assert tg.calls("answerCallbackQuery")[-1].params["text"] == "Привязка уже отменена."
    assert len(tg.sent_messages()) == 2


@pytest.mark.parametrize("state, text", [
    ("unknown", dialog.TOKEN_UNKNOWN),
    ("malformed", dialog.TOKEN_UNKNOWN),
    ("expired", dialog.TOKEN_EXPIRED),
    ("used", dialog.TOKEN_USED),
])
def test_bad_token_gets_a_clear_message_and_binds_nothing(tg, tg_post, token, state, text):
    link = {"unknown": "00000000-0000-0000-0000-000000000000", "malformed": "x" * 80}.get(state) or token()
    if state == "expired":
        BindingToken.objects.filter(token=link).update(expires_at=timezone.now() - timedelta(seconds=1))
    if state == "used":
        BindingToken.objects.filter(token=link).update(used_at=timezone.now(), used_service="telegram",
                                                       used_service_user_id="999")
    tg_post(tg_message(42, f"/start {link}"))
    [sent] = tg.sent_messages()
    assert sent["text"] == text
    assert tg_buttons(sent) == []
    assert not ServiceBinding.objects.filter(service_user_id="42").exists()
    assert not PendingBinding.objects.exists()


def test_token_expiring_before_the_confirm_binds_nothing(tg, tg_post, token):
    link = token()
    tg_post(tg_message(42, f"/start {link}"))
    BindingToken.objects.filter(token=link).update(expires_at=timezone.now() - timedelta(seconds=1))
    tg_post(tg_press(42, confirm_data(tg)))
    assert texts(tg)[-1] == dialog.TOKEN_EXPIRED
    assert not ServiceBinding.objects.exists()


def test_repeated_start_asks_again_with_the_same_buttons_and_after_binding_says_it_is_used(tg, tg_post, token):
    link = token()
    tg_post(tg_message(42, f"/start {link}"))
    tg_post(tg_message(42, f"/start {link}"))
    first, second = tg.sent_messages()
    assert first["text"] == second["text"] and tg_buttons(first) == tg_buttons(second)
    tg_post(tg_press(42, confirm_data(tg)))
    tg_post(tg_message(42, f"/start {link}"))
    assert texts(tg)[-1] == "Эта ссылка уже использована: этот аккаунт Telegram привязан по ней. Уведомления приходят сюда."
    assert ServiceBindingHistory.objects.count() == 1


def test_start_with_a_new_link_replaces_the_old_question(tg, tg_post, recipient, token):
    ivan = recipient()
    tg_post(tg_message(42, f"/start {token(ivan)}"))
    old_ok = confirm_data(tg)
    tg_post(tg_message(42, f"/start {token(ivan)}"))
    tg_post(tg_press(42, old_ok))
    assert texts(tg)[-1] == dialog.STALE
    assert not ServiceBinding.objects.exists()


def test_already_bound_account_is_told_so_and_the_link_is_used_up(tg, tg_post, recipient, token):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="telegram", service_user_id=42)
    link = token(ivan)
    tg_post(tg_message(42, f"/start {link}"))
    assert texts(tg) == ["Этот аккаунт Telegram уже привязан к профилю «Иван». Уведомления приходят сюда."]
    assert BindingToken.objects.get(token=link).used_at is not None
    assert binding_history(ivan, "telegram") == [("", "42")]


def test_button_data_replayed_by_another_account_binds_nothing(tg, tg_post, token):
    # given account 42 got the question
    tg_post(tg_message(42, f"/start {token()}"))
    data = confirm_data(tg)
    # when account 666 sends the same callback data
    tg_post(tg_press(666, data))
    # then nothing is bound and 666 is told the buttons are not valid
    assert not ServiceBinding.objects.exists()
    assert tg.sent_messages()[-1] == {"chat_id": "666", "text": dialog.STALE}
    # and 42 can still confirm its own question
    tg_post(tg_press(42, data))
    assert ServiceBinding.objects.get().service_user_id == "42"


def test_double_click_on_confirm_gives_one_binding_and_no_second_message(tg, tg_post, recipient, token):
    ivan = recipient()
    tg_post(tg_message(42, f"/start {token(ivan)}"))
    data = confirm_data(tg)
    tg_post(tg_press(42, data))
    tg_post(tg_press(42, data))
    assert binding_history(ivan, "telegram") == [("", "42")]
    assert len(tg.sent_messages()) == 2  # the question and «Готово»
    assert [c.params["text"] for c in tg.calls("answerCallbackQuery")] == [
        "Привязка подтверждена.", "Привязка уже подтверждена."]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_confirms_give_one_binding_and_one_history_row(tg, recipient, token):
    # given a question, answered by two presses delivered at the same time (two update ids)
    ivan = recipient()
    bot = telegram_bot()
    telegram_update_handle(bot, types.Update.de_json(tg_message(42, f"/start {token(ivan)}")))
    data = confirm_data(tg)
    presses = [types.Update.de_json(tg_press(42, data)) for _ in range(2)]
    results = at_once(*(functools.partial(telegram_update_handle, bot, update) for update in presses))
    # then one binding, one history row, one «Готово»
    assert [r for r in results if isinstance(r, Exception)] == []
    assert ServiceBinding.objects.filter(recipient=ivan).count() == 1
    assert binding_history(ivan, "telegram") == [("", "42")]
    assert [t for t in texts(tg) if t.startswith("Готово!")] != [] and len(texts(tg)) == 2
    assert sorted(c.params["text"] for c in tg.calls("answerCallbackQuery")) == [
        "Привязка подтверждена.", "Привязка уже подтверждена."]


def test_repeated_update_id_is_ignored(tg, tg_post, token):
    update = tg_message(42, f"/start {token()}")
    tg_post(update)
    tg_post(update)
    assert len(tg.sent_messages()) == 1


def test_other_text_gets_the_help(tg, tg_post):
    tg_post(tg_message(42, "привет"))
    tg_post(tg_message(42, "/start"))
    assert texts(tg) == [dialog.HELP, dialog.HELP]


def test_blocking_the_bot_deactivates_the_binding(tg, tg_post, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="telegram", service_user_id=42)
    assert tg_post(tg_kicked(42)).status_code == 200
    binding = ServiceBinding.objects.get(recipient=ivan)
    assert not binding.is_active and binding.deactivated_reason == "Пользователь заблокировал бота"
    assert tg.sent_messages() == []


def test_reply_refused_as_blocked_deactivates_the_binding(tg, tg_post, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="telegram", service_user_id=42)
    tg.blocked_chats.add("42")
    assert tg_post(tg_message(42, "привет")).status_code == 200
    assert not ServiceBinding.objects.get(recipient=ivan).is_active


# --- webhook authentication and bad input ------------------------------------------------------

@pytest.mark.parametrize("secret", ["wrong", "", None])
def test_webhook_with_a_wrong_or_missing_secret_is_403_and_does_nothing(tg, tg_post, token, secret):
    response = tg_post(tg_message(42, f"/start {token()}"), secret=secret)
    assert_forbidden_and_untouched(response, tg)


def test_webhook_without_a_configured_secret_refuses_everyone(tg, tg_post, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert tg_post(tg_message(42, "привет"), secret="").status_code == 403


@pytest.mark.parametrize("body, status", [("not json", 400), ("[1]", 400), ('{"message": {}}', 400),
                                          ('{"update_id": 1, "message": {"chat": 5}}', 400)])
def test_webhook_bad_body_is_a_400_envelope(tg, client, body, status):
    response = client.post("/bots/telegram/webhook", data=body, content_type="application/json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert response.status_code == status
    assert "error" in response.json()


def test_webhook_get_is_405(tg, client):
    response = client.get("/bots/telegram/webhook", headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert response.status_code == 405


# --- long polling ----------------------------------------------------------------------------------

def test_full_dialogue_through_long_polling(tg, recipient, token):
    # given the user opened the link: the update waits on the Bot API
    ivan = recipient(name="Иван")
    tg.push_update(tg_message(77, f"/start {token(ivan)}"))
    # when the polling bot runs for a bounded time
    output = run_bot()
    # then it removed any webhook, polled with our update types, and asked to confirm
    assert tg.calls("deleteWebhook")
    poll = tg.calls("getUpdates")[0].params
    assert poll["allowed_updates"] == '["message", "callback_query", "my_chat_member"]'
    assert texts(tg) == ["Привязать этот аккаунт Telegram к профилю «Иван» для получения уведомлений?"]
    assert "обработано обновлений: 1" in output
    # when the user presses «Подтвердить» and the bot polls again
    tg.push_update(tg_press(77, confirm_data(tg)))
    run_bot()
    # then the account is bound and the bot said so (the old update was not handled twice)
    assert_bound_by_the_bot(ivan, "telegram", "77", texts(tg))


def test_blocking_through_long_polling(tg, recipient):
    ivan = recipient()
    service_binding_set(recipient=ivan, service="telegram", service_user_id=78)
    tg.push_update(tg_kicked(78))
    run_bot()
    assert not ServiceBinding.objects.get(recipient=ivan).is_active


def test_polling_survives_a_failing_get_updates(tg, token):
    tg.fail_next("getUpdates", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    tg.push_update(tg_message(79, f"/start {token()}"))
    call_command("run_telegram_bot", timeout=1, max_seconds=3)
    assert len(texts(tg)) == 1


def test_commands_without_a_token_say_the_bot_is_off(tg, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    assert "Telegram-бот выключен" in run_bot()
    assert tg.requests == []


# --- webhook registration ------------------------------------------------------------------------

def test_set_telegram_webhook_registers_url_secret_and_update_types(tg, settings):
    settings.TELEGRAM_WEBHOOK_URL = "https://crm.example.ru/bots/telegram/webhook"
    call_command("set_telegram_webhook")
    [call] = tg.calls("setWebhook")
    assert call.params["url"] == "https://crm.example.ru/bots/telegram/webhook"
    assert call.params["secret_token"] == TG_SECRET
    assert call.params["allowed_updates"] == '["message", "callback_query", "my_chat_member"]'
    [menu] = tg.calls("setMyCommands")  # the bot menu comes from the one command table
    assert [c["command"] for c in json.loads(menu.params["commands"])] == ["start", "settings", "help"]
    call_command("set_telegram_webhook", "--delete")
    assert tg.calls("deleteWebhook")


def test_set_telegram_webhook_refuses_a_missing_or_invalid_secret(tg, settings):
    from django.core.management.base import CommandError

    settings.TELEGRAM_WEBHOOK_SECRET = "has spaces"
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("set_telegram_webhook", "https://crm.example.ru/bots/telegram/webhook")
    assert tg.calls("setWebhook") == []


def test_webhook_with_the_bot_off_is_503_after_the_secret_check(tg, tg_post, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    response = tg_post(tg_message(42, "привет"))
    assert response.status_code == 503 and response.json()["error"]["code"] == "bot_disabled"
    assert tg.requests == []
