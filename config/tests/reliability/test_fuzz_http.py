"""The contract fuzzer over HTTP, bounded: `make fuzz` in small, in `make test` (issue 23 item 6).

scripts/fuzz.py creates a fresh PostgreSQL database next to the test one, seeds the reliability world,
starts gunicorn with DEBUG=0 and runs schemathesis with every phase (examples, coverage, fuzzing,
stateful) and every check against all six API surfaces. Here each surface gets few examples and a
short time budget (about two minutes in all on two cores); `make fuzz` runs the same longer.
Reports: artifacts/fuzz/<surface>/output.txt.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # PostgreSQL and Redis; `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parents[3]
MAX_EXAMPLES, MAX_TIME = 5, 12  # per surface


def _sibling_database(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path}_fuzz"))


def test_every_api_surface_passes_the_http_fuzzer_with_every_phase_and_check():
    # given: a database of its own next to the test one; a Redis database no worker reads (fuzz.py's default)
    env = {**os.environ, "FUZZ_DATABASE_URL": os.environ.get("FUZZ_DATABASE_URL")
           or _sibling_database(os.environ["DATABASE_URL"])}
    # when
    run = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "scripts/fuzz.py", "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    # then: every surface ran and none has a failure or an error
    summary = [line for line in run.stdout.splitlines() if line.startswith(("==", "   exit", "FUZZ:"))]
    assert sum(line.startswith("== ") for line in summary) == 6, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.returncode == 0, "\n".join(summary) + "\nreports: artifacts/fuzz/<surface>/output.txt"
