"""Database helpers shared by the apps."""

from django.db import OperationalError

# deadlock detected, serialization failure: PostgreSQL rolled the transaction back; running it again is safe
LOCK_RACE_SQLSTATES = frozenset({"40P01", "40001"})


def is_lock_race(exc: BaseException) -> bool:
    """True when `exc` is a transaction PostgreSQL aborted to resolve a lock race."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in LOCK_RACE_SQLSTATES
