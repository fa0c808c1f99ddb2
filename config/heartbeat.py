"""Liveness files for compose healthchecks of processes without an HTTP port.

A long-running loop calls `beat(name)` once per iteration; the healthcheck runs
`python -m config.heartbeat PATH-GLOB MAX-AGE-SECONDS` and fails when no file matching
the glob was touched within MAX-AGE (the loop hangs or died). HEARTBEAT_DIR (default: the temp directory)
holds the files.
"""

import glob
import os
import sys
import tempfile
import time
from pathlib import Path


def beat(name: str) -> None:
    try:
        Path(os.environ.get("HEARTBEAT_DIR", tempfile.gettempdir()), f"heartbeat-{name}").touch()
    except OSError:
        pass  # a read-only /tmp must not stop the loop; the healthcheck will say so


def fresh(pattern: str, max_age: float) -> bool:
    now = time.time()
    return any(now - os.path.getmtime(path) <= max_age for path in glob.glob(pattern))


if __name__ == "__main__":
    sys.exit(0 if fresh(sys.argv[1], float(sys.argv[2])) else 1)
