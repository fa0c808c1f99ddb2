"""In-process profile of the operator's send (`POST /internal/v1/operator/chats/<id>/messages`, bench S5, the web
side): N messages through the test client (real service JWT, real transactions) into 50 chats, each queuing a
`sendMessage` delivery. The task messages are published to Redis (a queue of their own, emptied at the end) as
gunicorn publishes them; no worker takes them.

Run explicitly (not collected by the suite), with a Redis broker as the web process has:
    REDIS_URL=redis://127.0.0.1:6379/11 PROFILE_N=300 pytest bench/profile_operator.py -q -s
Prints CPU ms per request (this thread's CPU: not PostgreSQL, not Redis), Python calls and the statements of one
request, and the top of cProfile (PROFILE_QUIET=1: without it; PROFILE_OUT=<file>: the stats saved there)."""

import cProfile
import io
import os
import pstats
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communications.models import Delivery, Message
from communications.tests.factories import chat_make, operator_scope, provider_setup, tenant_install

N = int(os.environ.get("PROFILE_N", "300"))
WARM = 20
CHATS = 50
QUEUE = "profile-operator"


@pytest.fixture
def post(crm_client, fake_provider, fast, settings):
    """Send one operator message: chat n % CHATS, the bench's body."""
    from config.celery import app

    if not str(app.conf.broker_url or "").startswith("redis"):  # else Celery's default (AMQP on localhost)
        pytest.fail("Set REDIS_URL (or CELERY_BROKER_URL) to a Redis: the web process publishes there.")
    provider = provider_setup(fake_provider)
    tenant_id, _ = tenant_install(provider)
    for i in range(CHATS):
        chat_make(tenant_id, provider, chat_id=f"chat-{i}")
    scope = operator_scope(provider, tenant_id)
    settings.DELIVERY_QUEUE = QUEUE
    app.conf.task_always_eager = False  # published, as the web process does; nobody consumes this queue

    def send(n: int):
        return crm_client.post(f"/internal/v1/operator/chats/chat-{n % CHATS}/messages",
                               {**scope, "text": f"bench {time.monotonic():.6f}", "operatorId": "operator-1"},
                               format="json")

    yield send
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(QUEUE)


def _sends(post, start: int, count: int) -> list[int]:
    return [post(n).status_code for n in range(start, start + count)]


@pytest.mark.django_db(transaction=True)
def test_profile_operator_sends(post):
    assert set(_sends(post, 0, WARM)) == {201}
    with CaptureQueriesContext(connection) as queries:
        assert post(WARM).status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]  # read now: the next request clears the log
    profile = cProfile.Profile(time.thread_time)  # this thread's CPU: not PostgreSQL, not Redis
    cpu, wall = time.thread_time(), time.perf_counter()
    profile.enable()
    codes = _sends(post, WARM + 1, N)
    profile.disable()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert set(codes) == {201}
    assert Message.objects.count() == Delivery.objects.filter(endpoint="sendMessage").count() == N + WARM + 1
    print(f"\nrequests {N}; Python calls per request {pstats.Stats(profile).total_calls / N:.0f}; CPU "
          f"{cpu / N * 1000:.2f} ms/request in the thread (profiled); wall {wall / N * 1000:.2f} ms; "
          f"statements per request {len(statements)}")
    print("\n".join(f"   {sql[:220]}" for sql in statements))
    _top(profile)


def _top(profile) -> None:
    if os.environ.get("PROFILE_OUT"):
        profile.dump_stats(os.environ["PROFILE_OUT"])
    if os.environ.get("PROFILE_QUIET"):
        return
    out = io.StringIO()
    for order, lines in (("tottime", 30), ("cumulative", 70)):
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(lines)
    print(out.getvalue())


@pytest.mark.django_db(transaction=True)
def test_plain_cpu_per_operator_send(post):
    assert set(_sends(post, 0, WARM)) == {201}
    cpu, wall = time.thread_time(), time.perf_counter()
    codes = _sends(post, WARM, N)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert set(codes) == {201}
    print(f"\nplain: requests {N}; CPU {cpu / N * 1000:.2f} ms/request in the thread; wall {wall / N * 1000:.2f} ms; "
          f"load {os.getloadavg()[0]:.2f}")
