"""Reading the environment for the settings: django-environ, typed and strict.

`env` is the one reader `config/settings.py` uses. On top of `environ.Env` it
- raises ImproperlyConfigured naming the variable for a value of the wrong type
  (an int, float or bool typo stops the start instead of a bare ValueError or a silent False);
- treats an empty typed variable (`EMAIL_PORT=`) as unset, while an empty string stays empty
  (`REDIS_URL=` turns Redis off);
- splits lists on commas, strips items and drops empty ones;
- never resolves `$OTHER` references (a secret may start with `$`);
- records every name it was asked for (`env.names`): the registry the `.env.example` drift test reads.
"""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured

NOTSET = environ.Env.NOTSET
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
TYPE_NAMES = {int: "an integer", float: "a number", bool: "a boolean (1/0, true/false, yes/no, on/off)"}


class Env(environ.Env):
    def __init__(self, **scheme):
        super().__init__(**scheme)
        self.names: set[str] = set()

    def get_value(self, var, cast=None, default=NOTSET, parse_default=False):
        self.names.add(var)
        value = self.ENVIRON.get(var)
        if value is None or (cast not in (None, str) and not value.strip()):
            if default is NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable (see .env.example).")
            return default
        if cast in (None, str):
            return value
        return self._cast(var, value.strip(), cast)

    @staticmethod
    def _cast(var, value: str, cast):
        if cast is bool:
            if value.lower() not in TRUE | FALSE:
                raise ImproperlyConfigured(f"{var} must be {TYPE_NAMES[bool]}.")
            return value.lower() in TRUE
        try:
            return cast(value)
        except ValueError as exc:  # the value is not echoed: it may be a mistyped secret
            raise ImproperlyConfigured(f"{var} must be {TYPE_NAMES.get(cast, cast.__name__)}.") from exc

    def str(self, var, default=NOTSET, multiline=False, choices=NOTSET):
        value = self.get_value(var, cast=str, default=default)
        if choices is not NOTSET and value not in choices:
            raise ImproperlyConfigured(f"{var} must be one of {', '.join(map(repr, choices))}.")
        return value

    def list(self, var, cast=None, default=NOTSET):
        """Comma-separated items, stripped, empty ones dropped, each cast (ImproperlyConfigured naming `var`)."""
        value = self.get_value(var, cast=str, default=None)
        if value is None:
            if default is NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable (see .env.example).")
            return list(default)
        items = [item.strip() for item in value.split(",") if item.strip()]
        return [self._cast(var, item, cast) for item in items] if cast not in (None, str) else items

    def required(self, var, *, when: bool, fallback: str = "") -> str:
        """The variable; a missing one fails loudly when `when` holds (e.g. DEBUG off), else `fallback`."""
        value = self.str(var, default="")
        if value:
            return value
        if when:
            raise ImproperlyConfigured(
                f"{var} environment variable is required when DEBUG is off. Set {var} (see .env.example)."
            )
        return fallback


env = Env()
