"""In-process profile of delivery attempts (issue 19, engine rounds): N queued `sendMessage` rows in N chats
against the loopback fake provider, each sent by `delivery_send` as the task would, with real transactions.

Run explicitly (not collected by the suite):
    PROFILE_N=400 pytest bench/profile_engine.py -q -s
Prints CPU ms per attempt (process time), Python calls and statements per attempt, and the top of cProfile
(PROFILE_QUIET=1: without it; PROFILE_OUT=<file>: the stats saved there)."""

import cProfile
import io
import os
import pstats
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from communications.models import Delivery
from communications.services import operator
from communications.tests.factories import chat_make, provider_setup, tenant_install
from delivery import engine

N = int(os.environ.get("PROFILE_N", "400"))


@pytest.fixture
def fake_provider():
    """Kept-alive connections, as in the bench (the suite's fake answers HTTP/1.0)."""
    from config.testing.fake_provider import FakeProvider

    with FakeProvider(keep_alive=True) as fake:
        yield fake


def _queued(fake_provider) -> list[int]:
    """N chats with one queued sendMessage each, committed without publishing their tasks (the session's
    worker would send them); the first 20 sent here to warm up. Returns the ids of the rest."""
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    for i in range(N):
        chat_make(tenant_id, provider, chat_id=f"chat-{i}")
    with transaction.atomic():
        for i in range(N):
            operator.operator_message_send(tenant_id=tenant_id, provider=provider, chat_id=f"chat-{i}", text="Привет")
        connection.run_on_commit = []
    ids = list(Delivery.objects.filter(endpoint="sendMessage").order_by("pk").values_list("pk", flat=True))
    for pk in ids[:20]:
        assert engine.delivery_send(delivery_id=pk, kind="provider") == "delivered"
    return ids[20:]


@pytest.mark.django_db(transaction=True)
def test_profile_send_attempts(fast, fake_provider):
    ids = _queued(fake_provider)
    with CaptureQueriesContext(connection) as queries:
        engine.delivery_send(delivery_id=ids.pop(), kind="provider")
    profile = cProfile.Profile(time.thread_time)  # this thread's CPU: not PostgreSQL, not the fake's thread
    cpu, wall = time.thread_time(), time.perf_counter()
    profile.enable()
    words = [engine.delivery_send(delivery_id=pk, kind="provider") for pk in ids]
    profile.disable()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert set(words) == {"delivered"}
    # The profiler roughly doubles the CPU: `test_plain_cpu_per_attempt` gives the figure without it.
    if os.environ.get("PROFILE_OUT"):
        profile.dump_stats(os.environ["PROFILE_OUT"])
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
    calls = pstats.Stats(profile).total_calls
    print(f"\nattempts {len(ids)}; Python calls per attempt {calls / len(ids):.0f}; "
          f"CPU {cpu / len(ids) * 1000:.2f} ms/attempt (profiled); "
          f"wall {wall / len(ids) * 1000:.2f} ms; statements per attempt {len(queries)}")
    for q in queries.captured_queries:
        print("  ", q["sql"][:160])
    if not os.environ.get("PROFILE_QUIET"):
        print(out.getvalue())


@pytest.mark.django_db(transaction=True)
def test_plain_cpu_per_attempt(fast, fake_provider):
    ids = _queued(fake_provider)
    cpu, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
    words = [engine.delivery_send(delivery_id=pk, kind="provider") for pk in ids]
    cpu, thread = time.process_time() - cpu, time.thread_time() - thread
    wall = time.perf_counter() - wall
    assert set(words) == {"delivered"}
    print(f"\nplain: attempts {len(ids)}; CPU {cpu / len(ids) * 1000:.2f} ms/attempt (this thread "
          f"{thread / len(ids) * 1000:.2f}); wall {wall / len(ids) * 1000:.2f} ms;"
          f" load {os.getloadavg()[0]:.2f}")
