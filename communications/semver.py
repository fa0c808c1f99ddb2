"""Semantic Versioning 2.0.0 through the `semver` package: the one place the project's rules are added to it.

The package implements precedence (semver §11; see communications/tests/lifecycle/test_semver.py):
1.10.0 > 1.9.0; 1.0.0-rc.1 < 1.0.0; pre-release identifiers compare numerically or in ASCII order;
build metadata is ignored. On top of it the project caps a version at 64 characters (the column size),
and `key` accepts anything (None too) and raises ValueError for what is not a version.
"""

from semver import Version

MAX_LENGTH = 64
# The same grammar as the package's (a test holds them together), written for the OpenAPI `pattern` of
# serializer fields: the package's own expression uses Python-only syntax (named groups, \\Z).
PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_valid(value) -> bool:
    return isinstance(value, str) and len(value) <= MAX_LENGTH and Version.is_valid(value)


def key(value) -> Version:
    """Precedence key; raises ValueError for an invalid version."""
    if not is_valid(value):
        raise ValueError(f"not a semantic version: {value!r}")
    return Version.parse(value)


def compare(left: str, right: str) -> int:
    """-1, 0 or 1 by semver precedence."""
    return key(left).compare(key(right))
