from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """Project-wide management commands (service accounts, demo data)."""

    name = "config"
    label = "platform"
    verbose_name = "Платформа"

    def ready(self):
        from config import auth  # noqa: F401  (token-version signals)
        from config.api import schema  # noqa: F401  (OpenAPI extensions register on import)
