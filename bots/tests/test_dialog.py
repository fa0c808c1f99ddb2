"""The transport-agnostic parts: button data, start parsing, update de-duplication, pruning, admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bots import commands, dialog
from bots.models import PendingBinding, ProcessedUpdate
from bots.services import bots_state_prune, processed_update_claim
from bots.tests.factories import ProcessedUpdateFactory

pytestmark = pytest.mark.django_db


def test_button_data_is_short_and_carries_neither_token_nor_user_id(recipient, token):
    ivan = recipient()
    link = token(ivan)
    outcome = dialog.start(service="telegram", account_id=42, token=link)
    [reply] = outcome.replies
    for button in reply.buttons:
        assert len(button.data.encode()) <= 64
        assert link not in button.data and str(ivan.pk) not in button.data
    assert PendingBinding.objects.get(service="telegram", account_id="42").token_id == ivan.binding_tokens.get().pk


@pytest.mark.parametrize("text, name, arguments", [
    ("/start abc-1", "start", ["abc-1"]), ("/START abc", "start", ["abc"]), ("start abc", "start", ["abc"]),
    ("/start@SberBot abc", "start", ["abc"]), ("/start", "start", []), ("start a b", "start", ["a", "b"]),
    ("/settings@SberBot", "settings", []), ("Настройки", "settings", []), ("/help", "help", []),
    ("привет", None, None), ("", None, None),
])
def test_the_command_table_parses_what_users_type(text, name, arguments):
    parsed = commands.parse(text)
    assert (parsed[0].names[0], parsed[1]) == (name, arguments) if name else parsed is None


@pytest.mark.parametrize("text", ["/start", "start a b", "привет"])
def test_a_start_without_exactly_one_token_or_an_unknown_text_gets_the_help(db, text):
    assert commands.handle_text(service="telegram", account_id=42, text=text).replies[0].text == dialog.HELP


def test_an_update_is_claimed_once_and_updates_without_id_always_run():
    assert processed_update_claim(service="telegram", update_id=5) is True
    assert processed_update_claim(service="telegram", update_id=5) is False
    assert processed_update_claim(service="vk", update_id="5") is True  # per service
    assert processed_update_claim(service="vk", update_id=None) is True
    assert processed_update_claim(service="vk", update_id=None) is True


def test_prune_removes_only_old_state(recipient, token):
    dialog.start(service="vk", account_id=1, token=token())
    ProcessedUpdateFactory(service="vk", update_id="old")
    ProcessedUpdateFactory(service="vk", update_id="new")
    old = timezone.now() - timedelta(days=8)
    ProcessedUpdate.objects.filter(update_id="old").update(created_at=old)
    assert bots_state_prune() == 1
    assert list(ProcessedUpdate.objects.values_list("update_id", flat=True)) == ["new"]
    PendingBinding.objects.update(updated_at=old)
    assert bots_state_prune() == 1 and not PendingBinding.objects.exists()


def test_admin_lists_questions_read_only(admin_client, token):
    dialog.start(service="telegram", account_id=42, token=token())
    pending = PendingBinding.objects.get()
    response = admin_client.get("/admin/bots/pendingbinding/")
    assert response.status_code == 200 and "Ожидает подтверждения" in response.content.decode()
    detail = admin_client.get(f"/admin/bots/pendingbinding/{pending.pk}/change/").content.decode()
    assert pending.nonce not in detail
    assert admin_client.get("/admin/bots/processedupdate/").status_code == 200
    assert admin_client.get("/admin/bots/pendingbinding/add/").status_code == 403
