"""Issue 18: the `/settings` dialogue in both bots, over the fake Telegram and VK servers."""

import pytest

from bots.tests.builders import tg_buttons, tg_message, tg_press, vk_buttons, vk_message, vk_press
from bots.tests.factories import bind
from notifications.models import NotificationPreference, PreferenceChange

pytestmark = pytest.mark.django_db


def tg_data(sent, label):
    return dict(tg_buttons(sent))[label]


def test_telegram_settings_toggle_a_channel_of_a_type(tg, tg_post, recipient):
    # given a bound manager
    manager = bind(recipient("manager", name="Пётр"), "telegram", 501)
    # when they send /settings
    tg_post(tg_message(501, "/settings"))
    # then the bot lists the types they may mute and names the mandatory ones
    menu = tg.sent_messages()[-1]
    assert [label for label, _ in tg_buttons(menu)] == ["Обычное уведомление", "Дедлайн"]
    assert "Критическое" in menu["text"] and "обязательные" in menu["text"]
    # when they open «Дедлайн»
    tg_post(tg_press(501, tg_data(menu, "Дедлайн")))
    channels = tg.sent_messages()[-1]
    assert [label for label, _ in tg_buttons(channels)] == [
        "Telegram: вкл", "VK: вкл", "Push: вкл", "Email: вкл", "← Все типы"]
    assert all(len(data.encode()) <= 64 for _, data in tg_buttons(channels))
    # when they turn Telegram off
    tg_post(tg_press(501, tg_data(channels, "Telegram: вкл")))
    # then the preference is stored, audited with the source, and the menu shows the new state
    assert NotificationPreference.objects.get(recipient=manager, type="deadline", channel="telegram").enabled is False
    change = PreferenceChange.objects.get(recipient=manager)
    assert (change.setting, change.old_value, change.new_value, change.source) == (
        "deadline/telegram", "on", "off", "telegram")
    assert "Telegram: выкл" in [label for label, _ in tg_buttons(tg.sent_messages()[-1])]
    assert tg.calls("answerCallbackQuery")[-1].params["text"] == "Telegram: выключено."
    # and pressing again turns it back on
    tg_post(tg_press(501, tg_data(tg.sent_messages()[-1], "Telegram: выкл")))
    assert NotificationPreference.objects.get(recipient=manager, type="deadline", channel="telegram").enabled


def test_telegram_forged_button_cannot_mute_a_mandatory_type(tg, tg_post, recipient):
    admin = bind(recipient("admin"), "telegram", 502)
    tg_post(tg_press(502, "s:x:critical:telegram"))
    assert "обязательны" in tg.sent_messages()[-1]["text"]
    assert not NotificationPreference.objects.filter(recipient=admin).exists()


def test_telegram_settings_of_an_unbound_account_explain_how_to_bind(tg, tg_post, recipient):
    tg_post(tg_message(503, "/settings"))
    assert "не привязан" in tg.sent_messages()[-1]["text"]
    assert tg_buttons(tg.sent_messages()[-1]) == []
    # a button pressed from an unbound account changes nothing
    tg_post(tg_press(503, "s:x:notification:telegram"))
    assert not NotificationPreference.objects.exists()


def test_vk_settings_toggle_a_channel_of_a_type(vk, vk_post, recipient):
    user = bind(recipient("user"), "vk", 601)
    vk_post(vk_message(601, "/settings"))
    menu = vk.sent_messages()[-1]
    assert [b["label"] for b in vk_buttons(menu)] == ["Обычное уведомление"]
    vk_post(vk_press(601, menu, "Обычное уведомление"))
    channels = vk.sent_messages()[-1]
    assert [b["label"] for b in vk_buttons(channels)] == [
        "Telegram: вкл", "VK: вкл", "Push: вкл", "Email: вкл", "← Все типы"]
    vk_post(vk_press(601, channels, "Email: вкл"))
    assert NotificationPreference.objects.get(recipient=user, type="notification", channel="email").enabled is False
    assert PreferenceChange.objects.get(recipient=user).source == "vk"
    assert "Email: выкл" in [b["label"] for b in vk_buttons(vk.sent_messages()[-1])]
    # «← Все типы» goes back to the type list
    vk_post(vk_press(601, vk.sent_messages()[-1], "← Все типы"))
    assert [b["label"] for b in vk_buttons(vk.sent_messages()[-1])] == ["Обычное уведомление"]


def test_vk_settings_word_in_russian_works_too(vk, vk_post, recipient):
    bind(recipient("user"), "vk", 602)
    vk_post(vk_message(602, "Настройки"))
    assert vk.sent_messages()[-1]["message"].startswith("Настройки уведомлений.")
