"""pytest plugin (loaded with `-p config.testing.xdist`): a Redis database per pytest-xdist worker.

pytest-django already gives each worker its own test database (`test_<name>_gw<N>`). Redis is the other
shared resource: the broker queue the in-process Celery worker consumes, the cache, the rate-limit and
lockout counters. Worker N uses database (base + 1 + N) mod 16 of the same server. This module runs when
pytest imports it, before Django reads its settings, and the processes the tests start inherit the result.
"""

import os
from urllib.parse import urlsplit, urlunsplit

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")


def _shifted(url: str, offset: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + offset) % 16}"))


if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _offset = 1 + int(_worker[2:])
    for _name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        if os.environ.get(_name, "").startswith("redis://"):
            os.environ[_name] = _shifted(os.environ[_name], _offset)


def database_setup(connection, run_id: str) -> str:
    """Give this worker its test database as a copy of a template that one worker migrated.

    pytest-django would run the migrations once per worker; PostgreSQL copies a migrated database
    (CREATE DATABASE ... TEMPLATE) in a fraction of that. The first worker to take the lock of this run
    builds `<test name>_tpl`; each worker then copies it to its own `..._gw<N>`. Returns the old name
    for `database_teardown`."""
    import fcntl
    import tempfile

    old_name = connection.settings_dict["NAME"]
    clone = connection.creation._get_test_db_name()
    template = clone.rsplit("_gw", 1)[0] + "_tpl"
    lock_path = os.path.join(tempfile.gettempdir(), f"sbercrm-tests-{template}.lock")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        if lock.read().strip() != run_id:  # not built in this run yet
            connection.settings_dict["TEST"]["NAME"] = template
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            connection.close()
            lock.seek(0), lock.truncate(), lock.write(run_id), lock.flush()
        connection.settings_dict["NAME"] = old_name
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{clone}"')
            cursor.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{template}"')
    from django.conf import settings

    settings.DATABASES[connection.alias]["NAME"] = connection.settings_dict["NAME"] = clone
    connection.settings_dict["TEST"]["NAME"] = clone
    connection.close()
    return old_name


def database_teardown(connection, old_name: str) -> None:
    connection.creation.destroy_test_db(old_name, verbosity=0)
