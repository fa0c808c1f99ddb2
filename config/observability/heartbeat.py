"""Heartbeat files for the processes without an HTTP port: worker, beat and the two bots.

Each process touches `$HEARTBEAT_DIR/<name>` from its own loop (the worker from its event-loop
timer, beat on every scheduler tick, the bots on every long-poll round), so a hung loop stops
the heartbeat even while the process still exists. A compose `healthcheck` runs

    python -m config.observability.heartbeat worker 60

which exits 1 when the file is missing or older than 60 s. HEARTBEAT_DIR defaults to
<tmp>/sbercrm-heartbeat; HEARTBEAT_DIR=off writes nothing.
This module imports no Django at the top: the check must stay fast and work without settings.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ENV = "HEARTBEAT_DIR"


def _path(name: str) -> Path | None:
    directory = os.environ.get(ENV) or str(Path(tempfile.gettempdir()) / "sbercrm-heartbeat")
    return None if directory == "off" else Path(directory) / name


def heartbeat_touch(name: str) -> None:
    """Record that `name` is alive now (no-op with HEARTBEAT_DIR=off). Never raises."""
    path = _path(name)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        pass  # a full or read-only disk shows up as a failing healthcheck, not as a crash


def heartbeat_age(name: str, *, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat of `name`; None when there is none."""
    path = _path(name)
    try:
        return (now or time.time()) - path.stat().st_mtime if path else None
    except OSError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m config.observability.heartbeat NAME MAX_AGE_SECONDS", file=sys.stderr)
        return 2
    name, max_age = argv[0], float(argv[1])
    age = heartbeat_age(name)
    if age is None:
        print(f"{name}: no heartbeat in ${ENV}", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"{name}: last heartbeat {age:.0f} s ago (limit {max_age:.0f} s)", file=sys.stderr)
        return 1
    print(f"{name}: ok ({age:.0f} s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
