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
