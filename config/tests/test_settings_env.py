"""The settings read the environment through one strict reader (config/env.py), and .env.example documents
every variable they read: the reader records the names it was asked for, so a new setting without a line in
.env.example (or a line for a setting that is gone) fails here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
# Set (uncommented) in the example, or commented with the default and the meaning after it.
VARIABLE_LINE = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>\S*)\s*(?P<meaning>.*)$")
OUTSIDE_SETTINGS = "# --- Read by processes, not by the settings ---"


def _example() -> tuple[dict[str, str], dict[str, str]]:
    """(settings variables, other variables) of .env.example, each mapped to its one-line meaning."""
    settings_vars, other_vars, previous = {}, {}, ""
    target = settings_vars
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() == OUTSIDE_SETTINGS:
            target = other_vars
        match = VARIABLE_LINE.match(line)
        if match:
            name = match["name"]
            assert name not in settings_vars and name not in other_vars, f"{name} is listed twice"
            # a set variable has its meaning on the comment line above: "# NAME: meaning"
            meaning = match["meaning"] if match["commented"] else previous.removeprefix(f"# {name}:")
            target[name] = meaning.strip()
        previous = line
    return settings_vars, other_vars


def _import_settings(**variables) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG"}}
    clean.update(DEBUG="1", **variables)
    return subprocess.run([sys.executable, "-c", "import config.settings"], cwd=ROOT, env=clean,
                          capture_output=True, text=True)


def test_env_example_lists_exactly_the_variables_the_settings_read():
    # given the settings are loaded (pytest-django did it), the reader knows every name they asked for
    documented, _ = _example()
    # then
    assert sorted(env.names - set(documented)) == [], "read by config/settings.py, missing from .env.example"
    assert sorted(set(documented) - env.names) == [], "in .env.example, but config/settings.py never reads it"


def test_settings_read_the_environment_only_through_the_reader():
    source = (ROOT / "config" / "settings.py").read_text()
    # a read under a condition would escape the recorded names; the source shows it all the same
    in_source = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert in_source == env.names
    assert "os.environ" not in source and "getenv" not in source


def test_every_variable_in_env_example_has_a_one_line_meaning():
    documented, other = _example()
    without = [name for name, meaning in {**documented, **other}.items() if len(meaning) < 10]
    assert without == []


def test_variables_read_outside_the_settings_are_really_read_somewhere():
    _, other = _example()
    sources = "\n".join(path.read_text() for pattern in ("config/**/*.py", "scripts/*.py", "gunicorn.conf.py",
                                                           "docker-compose.yml")
                        for path in ROOT.glob(pattern) if "/tests/" not in str(path))
    assert other, "the section of process variables is gone"
    assert [name for name in other if f'"{name}"' not in sources and "${" + name not in sources] == []


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("EMAIL_PORT", "25x", "EMAIL_PORT must be an integer"),
    ("PROVIDER_READ_TIMEOUT", "2O", "PROVIDER_READ_TIMEOUT must be a number"),
    ("EMAIL_USE_TLS", "ture", "EMAIL_USE_TLS must be a boolean"),
    ("DELIVERY_RETRY_SCHEDULE", "5,30,l20", "DELIVERY_RETRY_SCHEDULE must be a number"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of 'plain', 'json'"),
])
def test_a_value_of_the_wrong_type_stops_the_start_naming_the_variable(name, value, expected):
    # when
    result = _import_settings(**{name: value})
    # then
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {expected}" in result.stderr, result.stderr[-2000:]
    assert "ValueError" not in result.stderr.splitlines()[-1]


def test_typed_values_parse_and_empty_ones_keep_the_default():
    # when
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings as s; print(s.EMAIL_PORT, s.EMAIL_USE_TLS, "
                               "s.PROVIDER_READ_TIMEOUT, s.DELIVERY_RETRY_SCHEDULE, s.ALLOWED_HOSTS, s.REDIS_URL)"],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DEBUG": "1", "EMAIL_PORT": "", "EMAIL_USE_TLS": "Yes", "PROVIDER_READ_TIMEOUT": "2.5",
             "DELIVERY_RETRY_SCHEDULE": " 1, 2.5,,", "ALLOWED_HOSTS": "a.ru , b.ru", "REDIS_URL": ""})
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "25 True 2.5 [1.0, 2.5] ['a.ru', 'b.ru'] "


def test_a_value_starting_with_a_dollar_is_taken_literally():
    result = subprocess.run([sys.executable, "-c", "from config import settings as s; print(s.SECRET_KEY)"],
                            cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DEBUG": "0", "SECRET_KEY": "$DEBUG-then-more-characters"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "$DEBUG-then-more-characters"


def test_middleware_and_logging_are_declared_once():
    source = (ROOT / "config" / "settings.py").read_text()
    for name in ("MIDDLEWARE", "LOGGING"):
        assert len(re.findall(rf"^{name}\b", source, re.M)) == 1
        assert not re.search(rf"{name}(\.\w+\(|\[.+\]\s*=|\s*\+=)", source), f"{name} is changed after its declaration"
