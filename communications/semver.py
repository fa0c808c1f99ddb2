"""Semantic Versioning 2.0.0 (https://semver.org): parsing and precedence.

Precedence rules (semver §11):
- MAJOR.MINOR.PATCH compare numerically, so 1.10.0 > 1.9.0;
- a pre-release is lower than its release: 1.0.0-rc.1 < 1.0.0;
- pre-release identifiers compare left to right: numeric ones numerically, others in ASCII order,
  numeric < alphanumeric, and a longer list wins when all shared identifiers are equal
  (1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1);
- build metadata (`+...`) is ignored, so 1.0.0+a and 1.0.0+b have the same precedence.
"""

import functools
import re

PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER = re.compile(PATTERN)


def is_valid(value: str) -> bool:
    return isinstance(value, str) and len(value) <= 64 and bool(_SEMVER.match(value))


@functools.total_ordering
class _Key:
    """Sort key implementing semver precedence."""

    __slots__ = ("core", "pre")

    def __init__(self, core: tuple[int, int, int], pre: tuple):
        self.core, self.pre = core, pre

    def __eq__(self, other):
        return (self.core, self.pre) == (other.core, other.pre)

    def __lt__(self, other):
        if self.core != other.core:
            return self.core < other.core
        if not self.pre or not other.pre:
            return bool(self.pre) and not other.pre  # a pre-release sorts before its release
        for mine, theirs in zip(self.pre, other.pre, strict=False):
            if mine == theirs:
                continue
            if isinstance(mine, int) != isinstance(theirs, int):
                return isinstance(mine, int)  # numeric identifiers sort before alphanumeric ones
            return mine < theirs
        return len(self.pre) < len(other.pre)

    def __hash__(self):
        return hash((self.core, self.pre))


def key(value: str) -> _Key:
    """Precedence key; raises ValueError for an invalid version."""
    match = _SEMVER.match(value or "")
    if not match:
        raise ValueError(f"not a semantic version: {value!r}")
    major, minor, patch, pre, _build = match.groups()
    identifiers = tuple(int(part) if part.isdigit() else part for part in pre.split(".")) if pre else ()
    return _Key((int(major), int(minor), int(patch)), identifiers)


def compare(left: str, right: str) -> int:
    """-1, 0 or 1 by semver precedence."""
    a, b = key(left), key(right)
    return (a > b) - (a < b)
