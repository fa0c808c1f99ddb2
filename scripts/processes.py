"""Child processes of the local scripts (`make run`, `make demo`): started in process groups of their own,
stopped together on SIGINT, SIGTERM or SIGHUP, and also when the parent that started us (make, a terminal)
is gone, so nothing is left listening on the port."""

import os
import signal
import subprocess
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE = 10.0  # seconds a child gets after SIGTERM before SIGKILL


def on_stop_signals(handler) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)


def ignore_stop_signals() -> None:
    """While stopping: a second Ctrl+C must not cut the clean-up short."""
    on_stop_signals(signal.SIG_IGN)


def orphaned(parent_pid: int) -> bool:
    """True once the process that started us has exited (we were re-parented)."""
    return os.getppid() != parent_pid


def stop_all(children, grace: float = STOP_GRACE) -> None:
    """SIGTERM every child's process group (their own children too), wait, SIGKILL what is left."""
    children = list(children)
    for child in children:
        if child.poll() is None:
            _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.wait()
        _signal_group(child, signal.SIGKILL)  # grandchildren the child left behind in its group


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
