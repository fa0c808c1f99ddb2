"""What the long-polling bot commands share: `--timeout`, `--max-seconds`, off without credentials, a metrics port.

Django does not list modules starting with `_` as commands.
"""

from django.core.management.base import BaseCommand

from config.observability.exporter import metrics_process_start


class PollingBotCommand(BaseCommand):
    """Polls one messenger until stopped (or for `--max-seconds`). A subclass names the bot and polls."""

    bot = ""  # as the messages name it: «Telegram-бот»
    mode = ""  # «long polling»
    wait_help = ""  # what one `--timeout` waits for
    counted = ""  # what `poll` returns the number of, in the genitive: «обновлений»

    def off_reason(self) -> str:
        """Why the bot is off (its credentials are not set), or "" when it may run."""
        raise NotImplementedError

    def poll(self, *, timeout: int, max_seconds: float | None) -> int:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=25, help=self.wait_help)
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="Остановиться через столько секунд (по умолчанию — работать бесконечно).")

    def handle(self, *args, timeout, max_seconds, **options):
        reason = self.off_reason()
        if reason:
            self.stdout.write(f"{self.bot} выключен: {reason}.")
            return
        self.stdout.write(f"{self.bot} запущен ({self.mode}).")
        metrics_process_start()  # issue 20: METRICS_PORT exporter (docs/operations.md)
        handled = self.poll(timeout=timeout, max_seconds=max_seconds)
        self.stdout.write(f"{self.bot} остановлен, обработано {self.counted}: {handled}.")
