"""Prepared statements on PostgreSQL (issue 19, README `DB_PREPARED_STATEMENTS`): a statement run
`DB_PREPARE_THRESHOLD` times on a connection is prepared there; `DB_PREPARED_STATEMENTS=0` inlines the values as before."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = "from django.conf import settings as s; print(s.DATABASES['default'].get('OPTIONS', {}))"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_repeated_statement_is_prepared_on_its_connection():
    sql = "SELECT count(*) FROM communications_delivery WHERE id = %s AND status <> %s"
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    with connection.cursor() as cursor:
        for run in range(threshold + 1):
            cursor.execute(sql, [run, "prepared-test"])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("status <> $2" in statement for statement in prepared), prepared


def _options(**variables) -> str:
    result = subprocess.run([sys.executable, "-c", OPTIONS], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DEBUG": "1", **variables})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_switch_and_the_threshold_come_from_the_environment():
    url = "postgres://postgres@127.0.0.1:5432/any"
    assert _options(DATABASE_URL=url) == "{'server_side_binding': True, 'prepare_threshold': 5}"
    assert _options(DATABASE_URL=url, DB_PREPARE_THRESHOLD="2") == (
        "{'server_side_binding': True, 'prepare_threshold': 2}")
    assert _options(DATABASE_URL=url, DB_PREPARED_STATEMENTS="0") == "{}"
    assert _options(DATABASE_URL="sqlite:///x.sqlite3") == "{}"  # SQLite: nothing to prepare
