"""The bots' one command table: what a user may type, the same in Telegram and VK.

The adapters (`bots/telegram.py`, `bots/vk.py`) map their updates onto it: a typed text goes to
`handle_text`; buttons, VK deep-link `ref` and `message_allow` stay adapter-specific because they are not
typed. A command is written with or without the slash, in any case, with an optional `@botname`
(Telegram groups): `/start <token>`, `start <token>`, `/settings@SberBot`, `настройки`.
Adding a command = one `Command` row here and its handler.
"""

from collections.abc import Callable
from dataclasses import dataclass

from bots import dialog, preferences


@dataclass(frozen=True)
class Command:
    names: tuple[str, ...]  # as typed, without the slash
    description: str  # Russian: the bot menu (Telegram setMyCommands) and the help text
    handler: Callable[..., dialog.Outcome]  # (service=, account_id=, arguments=) -> Outcome


def _start(*, service: str, account_id, arguments: list[str]) -> dialog.Outcome:
    if len(arguments) != 1:  # the deep link carries exactly one token; anything else is not ours
        return dialog.help_reply()
    return dialog.start(service=service, account_id=account_id, token=arguments[0])


def _settings(*, service: str, account_id, arguments: list[str]) -> dialog.Outcome:
    return preferences.settings_start(service=service, account_id=account_id)


def _help(*, service: str, account_id, arguments: list[str]) -> dialog.Outcome:
    return dialog.help_reply()


COMMANDS: tuple[Command, ...] = (
    Command(("start", "начать"), "привязать аккаунт по ссылке из SberCRM", _start),
    Command(("settings", "настройки"), "настроить уведомления: типы и каналы", _settings),
    Command(("help", "помощь"), "что умеет этот бот", _help),
)


def parse(text: str) -> tuple[Command, list[str]] | None:
    """The command a text names and its arguments, or None."""
    parts = (text or "").strip().split()
    if not parts:
        return None
    word = parts[0].split("@")[0].removeprefix("/").lower()
    for command in COMMANDS:
        if word in command.names:
            return command, parts[1:]
    return None


def handle_text(*, service: str, account_id, text: str) -> dialog.Outcome:
    """A typed message: its command, or the help text."""
    parsed = parse(text)
    if parsed is None:
        return dialog.help_reply()
    command, arguments = parsed
    return command.handler(service=service, account_id=account_id, arguments=arguments)
