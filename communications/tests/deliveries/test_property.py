"""Issue 15: the engine's property test against a loopback receiver answering random sequences of
2xx, 4xx, 5xx, 429, timeouts and resets (then healthy again).

- a receiver that drops duplicates (providers, by Idempotency-Key) processes each delivered call once;
- order holds per chain;
- nothing stays non-final once the receiver is healthy again;
(The Telegram "at most once" half: notifications/tests/test_outcomes_property.py.)

The engine is driven by hand (claim + attempt, as a worker and the sweeper would), so the test is fast
and deterministic apart from the receiver's answers.
"""

import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from communications.models import Delivery
from communications.services import deliveries as svc
from communications.tests.factories import make_tenant_configuration
from config.testing.fake_provider import FakeProvider, Reaction
from delivery import engine

READ_TIMEOUT = 0.5
REACTIONS = {
    "ok": Reaction(),
    "refused": Reaction(status=422, body={"error": "no"}),
    "error": Reaction(status=503),
    "throttled": Reaction(status=429, headers={"Retry-After": "0"}),
    "timeout": Reaction(delay=READ_TIMEOUT * 3),  # processed, answered too late: ambiguous
    "reset": Reaction(reset=True),  # processed, connection dropped: ambiguous
}
# At most 8 scripted answers: no call can exhaust its 10 attempts before the receiver is healthy.
scripts = st.lists(st.sampled_from(sorted(REACTIONS)), max_size=8)
plans = st.lists(st.tuples(st.sampled_from(["chat-a", "chat-b", ""]), st.booleans()), min_size=1, max_size=6)

FINAL = (Delivery.Status.DELIVERED, Delivery.Status.REFUSED, Delivery.Status.CANCELLED, Delivery.Status.DEAD)


def drive(ids, rounds=60):
    """Run due attempts like a worker + sweeper until every row is final."""
    for _ in range(rounds):
        open_ids = list(Delivery.objects.filter(pk__in=ids).exclude(status__in=FINAL).order_by("pk")
                        .values_list("pk", flat=True))
        if not open_ids:
            return
        Delivery.objects.filter(pk__in=open_ids).update(next_attempt_at=timezone.now(), lease_expires_at=None)
        Delivery.objects.filter(pk__in=open_ids, status=Delivery.Status.IN_PROGRESS).update(
            status=Delivery.Status.PENDING)
        for pk in open_ids:
            engine.delivery_send(delivery_id=pk)


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts, plan=plans)
def test_every_call_is_processed_once_in_chain_order_and_ends_final(fast_retries, script, plan):
    fast_retries.PROVIDER_READ_TIMEOUT = READ_TIMEOUT
    with FakeProvider() as fake:
        tenant_configuration = make_tenant_configuration(fake, code=f"prop-{uuid.uuid4().hex[:8]}")
        fake.script(*[REACTIONS[name] for name in script])
        rows = [svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="markChatRead",
                                     payload={"n": n, "chatId": key}, ordering_key=key)
                for n, (key, _) in enumerate(plan)]
        ids = [row.pk for row in rows]
        # when the receiver answers the script, then is healthy
        drive(ids)
        # then nothing stays open
        statuses = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
        assert set(statuses.values()) <= {Delivery.Status.DELIVERED, Delivery.Status.REFUSED}, statuses
        # every delivered call was processed by the receiver, exactly once (it drops repeats by key)
        # (in arrival order: a "timeout" call is processed when it arrives and answered late, so the fake files it
        # only after its delay, when the chain may have moved on: its row was refused or delivered meanwhile)
        processed = [record.json["n"] for record in sorted(fake.accepted_list(), key=lambda record: record.at)]
        assert len(processed) == len(set(processed))
        for row in rows:
            if statuses[row.pk] == Delivery.Status.DELIVERED:
                assert str(row.idempotency_key) in fake.accepted
        # order holds per chain: the receiver processed each chain's calls in creation order
        for key in {key for key, _ in plan if key}:
            chain = [n for n in processed if plan[n][0] == key]
            assert chain == sorted(chain)

