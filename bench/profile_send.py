"""In-process profile of `POST /notifications/send` (bench S6, issue 19, third round): N synchronous Telegram sends
through the test client (real JWT, real transactions) against the loopback fake Telegram, to N recipients.

Run explicitly (not collected by the suite):
    PROFILE_N=200 pytest bench/profile_send.py -q -s
Prints CPU ms per send (process time; the test client and the fake's thread included), Python calls and the
statements of one send, and the top of cProfile (PROFILE_QUIET=1: without it; PROFILE_OUT=<file>: the stats saved there;
PROFILE_CLOCK=wall: profiled by the wall clock, to see where a send waits)."""

import cProfile
import io
import os
import pstats
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

N = int(os.environ.get("PROFILE_N", "200"))
WARM = 20


def _recipients(make_recipient) -> list[str]:
    return [str(make_recipient("manager", telegram=True).pk) for _ in range(N + WARM + 1)]


def _body(recipient: str, n: int) -> dict:
    return {"user_id": recipient, "service": "telegram", "subject": "Сделка", "type": "notification",
            "message": f"Сделка №{n} перешла на этап «Согласование»."}


def _sends(send, recipients) -> list[int]:
    return [send(_body(recipient, n)).status_code for n, recipient in enumerate(recipients)]


@pytest.mark.django_db(transaction=True)
def test_profile_sends(fakes, make_recipient, send):
    recipients = _recipients(make_recipient)
    assert set(_sends(send, recipients[:WARM])) == {200}
    with CaptureQueriesContext(connection) as queries:
        assert send(_body(recipients[WARM], 0)).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]  # read now: the next request clears the log
    recipients = recipients[WARM + 1:]
    # this thread's CPU (not PostgreSQL, not the fake's thread); PROFILE_CLOCK=wall: where the waits are
    profile = cProfile.Profile(time.perf_counter if os.environ.get("PROFILE_CLOCK") == "wall" else time.thread_time)
    cpu, wall = time.thread_time(), time.perf_counter()
    profile.enable()
    codes = _sends(send, recipients)
    profile.disable()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert set(codes) == {200}
    n = len(recipients)
    print(f"\nsends {n}; Python calls per send {pstats.Stats(profile).total_calls / n:.0f}; CPU {cpu / n * 1000:.2f} "
          f"ms/send in the thread (profiled); wall {wall / n * 1000:.2f} ms; statements per send {len(statements)}")
    print("\n".join(f"   {sql[:220]}" for sql in statements))
    _top(profile)


def _top(profile) -> None:
    """The top of the profile by own and by cumulative time (and the stats to a file, PROFILE_OUT)."""
    if os.environ.get("PROFILE_OUT"):
        profile.dump_stats(os.environ["PROFILE_OUT"])  # for pstats / snakeviz
    if os.environ.get("PROFILE_QUIET"):
        return
    out = io.StringIO()
    for order, lines in (("tottime", 30), ("cumulative", 60)):
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(lines)
    print(out.getvalue())


@pytest.mark.django_db(transaction=True)
def test_plain_cpu_per_send(fakes, make_recipient, send):
    recipients = _recipients(make_recipient)
    assert set(_sends(send, recipients[:WARM])) == {200}
    recipients = recipients[WARM:]
    cpu, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
    codes = _sends(send, recipients)
    cpu, thread = time.process_time() - cpu, time.thread_time() - thread
    wall = time.perf_counter() - wall
    assert set(codes) == {200}
    print(f"\nplain: sends {len(recipients)}; CPU {thread / len(recipients) * 1000:.2f} ms/send in the request's "
          f"thread ({cpu / len(recipients) * 1000:.2f} with the fake's); "
          f"wall {wall / len(recipients) * 1000:.2f} ms; load {os.getloadavg()[0]:.2f}")
