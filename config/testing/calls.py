"""Python calls per operation, counted by cProfile (issue 19): the in-process work of a request or an attempt. Unlike
CPU time it does not move with the machine (docs/performance.md, "Session 18"), so a budget test can hold it."""

import cProfile
import pstats


def calls_per_operation(operation, count: int) -> float:
    """Run `operation()` `count` times under cProfile; the mean number of Python calls (functions and builtins) of
    one run."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        for _ in range(count):
            operation()
    finally:
        profile.disable()
    return pstats.Stats(profile).total_calls / count
