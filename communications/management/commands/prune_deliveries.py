from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from communications.services.retention import deliveries_prune


class Command(BaseCommand):
    help = ("Удаляет завершённые доставки (и их попытки) старше DELIVERY_RETENTION_DAYS дней небольшими пачками. "
            "Ожидающие и выполняющиеся доставки и журналы уведомлений не трогает.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"Возраст в днях (по умолчанию DELIVERY_RETENTION_DAYS = "
                                 f"{settings.DELIVERY_RETENTION_DAYS}).")
        parser.add_argument("--batch", type=int, default=None,
                            help=f"Строк в одной транзакции (по умолчанию DELIVERY_RETENTION_BATCH = "
                                 f"{settings.DELIVERY_RETENTION_BATCH}).")

    def handle(self, *args, days, batch, **options):
        if days is not None and days < 1:
            raise CommandError("--days: не меньше 1")
        if batch is not None and batch < 1:
            raise CommandError("--batch: не меньше 1")
        deleted = deliveries_prune(days=days, batch=batch)
        self.stdout.write(f"Удалено доставок: {deleted}")
