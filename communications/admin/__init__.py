from . import conversations, deliveries, providers, sync, teststand  # noqa: F401
