from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "communications"
    verbose_name = "Модуль коммуникаций"

    def ready(self):
        from communications.services import files  # noqa: F401  connects the file cleanup on delete
