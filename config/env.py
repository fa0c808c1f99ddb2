"""Small helpers that read settings from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

TRUTHY = {"1", "true", "yes", "on"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUTHY


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_required(name: str, *, when: bool, fallback: str = "") -> str:
    """Return the variable; fail loudly when it is missing and `when` holds."""
    value = os.environ.get(name, "")
    if value:
        return value
    if when:
        raise ImproperlyConfigured(
            f"{name} environment variable is required when DEBUG is off. "
            f"Set {name} (see .env.example)."
        )
    return fallback
