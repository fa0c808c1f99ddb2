"""Builders of Telegram updates / VK events as the real services send them, and readers of
what the bot sent (recorded by the fake servers)."""

import itertools
import json

TG_SECRET = "tg-webhook_Secret1"
VK_SECRET = "vk-callback-secret"
VK_GROUP_ID = "5551"
VK_CONFIRMATION = "c0nf1rm"
_ids = itertools.count(1)


# --- Telegram updates --------------------------------------------------------------------

def _tg_user(user_id):
    return {"id": user_id, "is_bot": False, "first_name": "Пользователь"}


def tg_message(chat_id: int, text: str, *, update_id: int | None = None) -> dict:
    return {"update_id": update_id or next(_ids), "message": {
        "message_id": next(_ids), "date": 0, "chat": {"id": chat_id, "type": "private"},
        "from": _tg_user(chat_id), "text": text}}


def tg_press(user_id: int, data: str, *, message_id: int = 7, update_id: int | None = None) -> dict:
    return {"update_id": update_id or next(_ids), "callback_query": {
        "id": f"cb-{next(_ids)}", "from": _tg_user(user_id), "chat_instance": "ci", "data": data,
        "message": {"message_id": message_id, "date": 0, "chat": {"id": user_id, "type": "private"}, "text": "?"}}}


def tg_kicked(chat_id: int) -> dict:
    bot = {"id": 1, "is_bot": True, "first_name": "Bot"}
    return {"update_id": next(_ids), "my_chat_member": {
        "chat": {"id": chat_id, "type": "private"}, "from": _tg_user(chat_id), "date": 0,
        "old_chat_member": {"user": bot, "status": "member"},
        "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0}}}


def tg_buttons(sent: dict) -> list[tuple[str, str]]:
    """(label, callback_data) of a recorded sendMessage's inline keyboard."""
    if "reply_markup" not in sent:
        return []
    rows = json.loads(sent["reply_markup"])["inline_keyboard"]
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


# --- VK events -----------------------------------------------------------------------------

def vk_message(user_id: int, text: str = "", *, ref: str | None = None, payload: dict | None = None,
               event_id: str | None = None) -> dict:
    message = {"id": next(_ids), "date": 0, "from_id": user_id, "peer_id": user_id, "text": text}
    if ref:
        message.update(ref=ref, ref_source="link")
    if payload is not None:
        message["payload"] = json.dumps(payload)
    return {"type": "message_new", "group_id": int(VK_GROUP_ID), "event_id": event_id or f"e{next(_ids)}",
            "object": {"message": message, "client_info": {"keyboard": True, "inline_keyboard": True}}}


def vk_press(user_id: int, sent: dict, label: str) -> dict:
    """The message_new VK sends when the user taps the button `label` of a recorded messages.send."""
    [button] = [b for b in vk_buttons(sent) if b["label"] == label]
    return vk_message(user_id, label, payload=json.loads(button["payload"]))


def vk_buttons(sent: dict) -> list[dict]:
    if "keyboard" not in sent:
        return []
    keyboard = json.loads(sent["keyboard"])
    assert keyboard["inline"] is True
    return [b["action"] for row in keyboard["buttons"] for b in row]


def texts(tg) -> list[str]:
    """What the bot said: the texts the fake Bot API received, in order."""
    return [m["text"] for m in tg.sent_messages()]


def run_bot(**options) -> str:
    """The polling bot for a bounded time; returns its output."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_telegram_bot", timeout=1, max_seconds=1.5, stdout=out, **options)
    return out.getvalue()


def binding_history(recipient, service: str) -> list[tuple[str, str]]:
    """(old, new) account ids of the recipient's binding changes in `service`, oldest first."""
    from notifications.models import ServiceBindingHistory

    return list(ServiceBindingHistory.objects.filter(recipient=recipient, service=service).order_by("id")
                .values_list("old_service_user_id", "new_service_user_id"))


def assert_bound_by_the_bot(recipient, service: str, account_id: str, said: list[str]) -> None:
    """The dialogue's happy end: `recipient` is bound to the messenger account, with one history row, and the
    bot said two things, the last one «Готово!» naming the profile."""
    from notifications.models import ServiceBinding

    label = {"telegram": "Telegram", "vk": "ВКонтакте"}[service]
    assert ServiceBinding.objects.get(recipient=recipient, service=service).service_user_id == account_id
    assert binding_history(recipient, service) == [("", account_id)]
    assert said[-1].startswith(f"Готово! Аккаунт {label} привязан к профилю «{recipient.name}».")
    assert len(said) == 2


def assert_forbidden_and_untouched(response, fake) -> None:
    """A 403 envelope; the bot called nothing at the messenger and no binding is pending."""
    from bots.models import PendingBinding

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert fake.requests == [] and not PendingBinding.objects.exists()
