"""In-process profile of the initial sync (bench S7, issue 19): a tenant's history of PROFILE_N messages in 100 chats,
pages of INITIAL_SYNC_PAGE_SIZE from the loopback fake provider (HTTP/1.1 kept alive, as in the bench), through the
delivery engine with real transactions. Celery is eager here, so a page's import and the next fetch run inside the
commit of the fetch before, one after another (the workers take them in parallel instead: the same attempts).

Run explicitly (not collected by the suite):
    PROFILE_N=10000 pytest bench/profile_sync.py -q -s
Prints wall, CPU of this thread (the worker's share) and of the whole process (the fake's thread too) per page,
statements per page, and the top of cProfile (PROFILE_QUIET=1: without it; PROFILE_OUT=<file>: the stats saved)."""

import cProfile
import io
import os
import pstats
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.run import history
from communications.models import InitialSync, Message
from communications.tests.factories import provider_setup, tenant_install
from config.testing.fake_provider import FakeProvider

N = int(os.environ.get("PROFILE_N", "10000"))


def _sync(fake, provider, profile=None) -> tuple[InitialSync, dict]:
    """Activate a new tenant (its sync runs inline, Celery being eager) and time it."""
    clocks = (time.perf_counter(), time.thread_time(), time.process_time())
    if profile:
        profile.enable()
    tenant_id, _ = tenant_install(provider)
    if profile:
        profile.disable()
    wall, thread, process = (now - then for now, then in zip((time.perf_counter(), time.thread_time(),
                                                               time.process_time()), clocks, strict=True))
    sync = InitialSync.objects.get(tenant_id=tenant_id)
    assert sync.status == InitialSync.Status.COMPLETED and sync.messages_created == N, sync.last_error
    assert Message.objects.filter(tenant_id=tenant_id).count() == N
    return sync, {"wall": wall, "thread": thread, "process": process}


@pytest.mark.django_db(transaction=True)
def test_profile_initial_sync(fast):
    with FakeProvider(keep_alive=True) as fake:
        fake.history = history(N, 100)
        provider = provider_setup(fake)
        _sync(fake, provider)  # warm-up: compiled queries, kept-alive connection
        with CaptureQueriesContext(connection) as queries:
            sync, plain = _sync(fake, provider)
        profile = cProfile.Profile()
        _, profiled = _sync(fake, provider, profile)
    pages = sync.pages_done
    per_page = {name: round(value / pages * 1000, 1) for name, value in plain.items()}
    print(f"\npages {pages} of {settings_page_size()}; per page (ms, no profiler): wall {per_page['wall']}, "
          f"CPU this thread {per_page['thread']}, CPU process {per_page['process']} (the fake's thread: the "
          f"difference); per item: thread {plain['thread'] / N * 1000:.3f} ms; load {os.getloadavg()[0]:.2f}")
    print(f"statements per page {len(queries) / pages:.1f} (activation included: {len(queries)} in all)")
    print(f"profiled: thread CPU {profiled['thread'] / pages * 1000:.1f} ms per page")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)
    if os.environ.get("PROFILE_OUT"):
        stats.dump_stats(os.environ["PROFILE_OUT"])
    if os.environ.get("PROFILE_SQL"):  # the statements of the last page, and the slowest kinds of statement
        for q in queries.captured_queries[-int(os.environ["PROFILE_SQL"]):]:
            print(f"  {q['time']:>7} {q['sql'][:150]}")
        by_kind = {}
        for q in queries.captured_queries:
            key = q["sql"][:70]
            count, total = by_kind.get(key, (0, 0.0))
            by_kind[key] = (count + 1, total + float(q["time"]))
        for key, (count, total) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])[:15]:
            print(f"  {total / pages * 1000:7.1f} ms/page {count:5} x {key}")
    if not os.environ.get("PROFILE_QUIET"):
        print(out.getvalue())


def settings_page_size() -> int:
    from django.conf import settings

    return settings.INITIAL_SYNC_PAGE_SIZE
