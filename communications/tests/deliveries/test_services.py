"""Outbox services in eager mode against the real fake provider."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from communications.models import Delivery, DeliveryAttempt, ProviderSigningSecret, TenantConfiguration
from communications.services import deliveries as svc
from communications.tests.factories import ProviderConfigurationFactory, make_tenant_configuration
from config.errors import ApplicationError, ConflictError
from config.testing.fake_provider import Reaction
from delivery import engine
from delivery.kinds import kind_get

pytestmark = pytest.mark.django_db


def enqueue(tc, endpoint="sendMessage", ordering_key="", **payload):
    return svc.delivery_enqueue(tenant_configuration=tc, endpoint=endpoint, payload=payload or {"text": "hi"},
                                ordering_key=ordering_key)


def test_enqueued_call_is_sent_after_commit_with_auth_key_and_signature(
        fast_retries, tenant_configuration, fake_provider, django_capture_on_commit_callbacks):
    # given
    secret = svc.provider_signing_secret_issue(provider=tenant_configuration.provider)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tenant_configuration, chatId="c1", text="Привет")
        assert fake_provider.requests == []  # nothing leaves before commit
    # then
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.provider_message_id.startswith("prov-")
    assert delivery.response_status == 200
    request = fake_provider.requests[0]
    assert request.path == "/sendMessage"
    assert request.headers["x-api-key"] == "api-key-of-the-provider-1234"
    assert request.headers["idempotency-key"] == str(delivery.idempotency_key)
    assert Webhook(secret).verify(request.body, request.headers) == {"chatId": "c1", "text": "Привет"}
    attempt = delivery.attempt_log.get()
    assert attempt.outcome == DeliveryAttempt.Outcome.SUCCESS and attempt.status_code == 200
    assert attempt.latency_ms is not None


def test_rolled_back_transaction_leaves_no_delivery_and_no_call(fast_retries, tenant_configuration, fake_provider,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                enqueue(tenant_configuration)
                raise RuntimeError("the business change failed")
    assert callbacks == [] and Delivery.objects.count() == 0 and fake_provider.requests == []


def test_call_uses_the_configuration_bound_when_it_was_made(fast_retries, fake_provider, django_capture_on_commit_callbacks):
    # given: the tenant is bound to v1, the provider uploads v2 with other URLs
    tc = make_tenant_configuration(fake_provider, endpoints=fake_provider.endpoints(host="localhost"))
    ProviderConfigurationFactory(provider=tc.provider, app_code="x", app_version="2.0.0", configuration_version="2.0.0",
                                 provider_label="x", endpoints={"sendMessage": "http://10.0.0.1/evil"}, auth_key="new-key")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tc)
    # then
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert fake_provider.requests[0].headers["x-api-key"] == "api-key-of-the-provider-1234"


def test_client_error_makes_delivery_refused_at_once(fast_retries, tenant_configuration, fake_provider,
                                                     django_capture_on_commit_callbacks):
    # Issue 15: a 4xx is the receiver's final answer ("refused"), not a dead letter holding the chain.
    fake_provider.fail_next(1, status=422, body={"error": "chat not found"})
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tenant_configuration)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.REFUSED
    assert delivery.attempts == 1 and len(fake_provider.requests) == 1
    assert "HTTP 422" in delivery.last_error and "chat not found" in delivery.last_error
    assert delivery.attempt_log.get().outcome == DeliveryAttempt.Outcome.REFUSED


@pytest.fixture
def redirected(fast_retries, tenant_configuration, fake_provider, django_capture_on_commit_callbacks):
    """A call the provider answered with a redirect to the metadata address, after its (eager) attempt."""
    fake_provider.redirect_next("http://169.254.169.254/")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tenant_configuration)
    delivery.refresh_from_db()
    return delivery


def test_redirect_makes_delivery_dead_without_following(redirected, fake_provider):
    assert redirected.status == Delivery.Status.DEAD and "перенаправление" in redirected.last_error
    assert len(fake_provider.requests) == 1


def test_private_target_is_refused_and_dead(fast_retries, fake_provider, django_capture_on_commit_callbacks):
    tc = make_tenant_configuration(fake_provider, endpoints={"sendMessage": "http://169.254.169.254/latest"})
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tc)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and "SSRF" in delivery.last_error


def test_server_error_schedules_retry_with_backoff(settings, fast_retries, tenant_configuration, fake_provider,
                                                   django_capture_on_commit_callbacks):
    settings.DELIVERY_RETRY_SCHEDULE = [30] * 9
    fake_provider.fail_next(1, status=503)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tenant_configuration)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert before + timedelta(seconds=29) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=31)
    assert delivery.attempt_log.get().outcome == DeliveryAttempt.Outcome.RETRY
    # when: it is due again, the same idempotency key goes out
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert engine.delivery_send(delivery_id=delivery.pk) == "delivered"
    keys = {r.headers["idempotency-key"] for r in fake_provider.requests}
    assert keys == {str(delivery.idempotency_key)} and len(fake_provider.requests) == 2


def test_429_retry_after_is_honoured(settings, fast_retries, tenant_configuration, fake_provider,
                                     django_capture_on_commit_callbacks):
    fake_provider.fail_next(1, status=429, retry_after="120")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue(tenant_configuration)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=115)


def test_long_wait_is_left_to_the_sweeper_not_a_countdown(settings, fast_retries, tenant_configuration, fake_provider,
                                                          django_capture_on_commit_callbacks):
    # given: the next wait is longer than the broker may hold a countdown
    settings.DELIVERY_RETRY_SCHEDULE = [settings.CELERY_MAX_COUNTDOWN * 3] * 9
    fake_provider.fail_next(1, status=500)
    with django_capture_on_commit_callbacks() as callbacks:
        delivery = enqueue(tenant_configuration)
    # when: the first attempt runs (its own retry dispatch is captured too)
    with django_capture_on_commit_callbacks() as retry_callbacks:
        engine.delivery_send(delivery_id=delivery.pk)
    # then: one dispatch after enqueue, none for the long retry
    assert len(callbacks) == 1 and retry_callbacks == []
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=settings.CELERY_MAX_COUNTDOWN)


def test_exhausted_attempts_make_delivery_dead(fast_retries, tenant_configuration, fake_provider):
    fake_provider.always(Reaction(status=500))
    delivery = enqueue(tenant_configuration)
    for _ in range(10):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        engine.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 10
    assert "исчерпаны" in delivery.last_error
    assert delivery.attempt_log.count() == 10
    assert engine.delivery_send(delivery_id=delivery.pk) == "final"
    assert len(fake_provider.requests) == 10


def test_retry_schedule_spans_about_a_day_in_ten_attempts(settings):
    settings.DELIVERY_RETRY_SCHEDULE = [5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200]
    settings.DELIVERY_RETRY_JITTER = 0.2
    provider = kind_get(Delivery.Kind.PROVIDER)
    delays = [provider.retry_delay(n) for n in range(1, 10)]
    assert 0.8 * 81755 <= sum(delays) <= 1.2 * 81755
    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays, settings.DELIVERY_RETRY_SCHEDULE, strict=True))
    assert provider.retry_delay(1, retry_after=300) >= 300
    assert provider.retry_delay(1, retry_after=10**9) == settings.DELIVERY_RETRY_AFTER_MAX


def test_parse_retry_after_accepts_seconds_and_http_date():
    now = timezone.now()
    assert engine.parse_retry_after("7", now) == 7
    date = (now + timedelta(seconds=60)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 55 <= engine.parse_retry_after(date, now) <= 61
    assert engine.parse_retry_after("garbage", now) is None


def test_later_call_of_a_chat_waits_for_the_earlier_one(fast_retries, tenant_configuration, fake_provider):
    # given: the message and its edit, the message not yet sent
    message = enqueue(tenant_configuration, ordering_key="chat-1", n=1)
    edit = enqueue(tenant_configuration, endpoint="updateMessageContent", ordering_key="chat-1", n=2)
    other_chat = enqueue(tenant_configuration, ordering_key="chat-2", n=3)
    # when: the edit's task runs first
    assert engine.delivery_send(delivery_id=edit.pk) == "blocked"
    assert engine.delivery_send(delivery_id=other_chat.pk) == "delivered"
    # then: only after the message is delivered can the edit go
    assert engine.delivery_send(delivery_id=message.pk) == "delivered"
    edit.refresh_from_db()
    assert edit.next_attempt_at <= timezone.now()  # released at once, not after the recheck
    assert engine.delivery_send(delivery_id=edit.pk) == "delivered"
    assert [r.json["n"] for r in fake_provider.requests] == [3, 1, 2]


def test_dead_call_blocks_its_chat_until_cancelled(fast_retries, tenant_configuration, fake_provider,
                                                   django_capture_on_commit_callbacks):
    fake_provider.redirect_next("http://example.invalid/")  # dead (a 4xx is "refused" and releases the chat)
    message = enqueue(tenant_configuration, ordering_key="chat-1", n=1)
    edit = enqueue(tenant_configuration, endpoint="updateMessageContent", ordering_key="chat-1", n=2)
    assert engine.delivery_send(delivery_id=message.pk) == "dead"
    Delivery.objects.filter(pk=edit.pk).update(next_attempt_at=timezone.now())
    assert engine.delivery_send(delivery_id=edit.pk) == "blocked"
    # when: the moderator cancels the dead message
    with django_capture_on_commit_callbacks(execute=True):
        engine.delivery_cancel(delivery_id=message.pk)
    # then: the edit goes out
    edit.refresh_from_db()
    assert edit.status == Delivery.Status.DELIVERED
    assert [r.json["n"] for r in fake_provider.requests] == [1, 2]


def test_moderator_retry_of_dead_delivery_starts_a_fresh_cycle(redirected, django_capture_on_commit_callbacks):
    delivery = redirected
    assert delivery.status == Delivery.Status.DEAD
    with django_capture_on_commit_callbacks(execute=True):
        engine.delivery_retry(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempt_log.count() == 2
    with pytest.raises(ConflictError):
        engine.delivery_retry(delivery_id=delivery.pk)
    with pytest.raises(ConflictError):
        engine.delivery_cancel(delivery_id=delivery.pk)


def test_cancel_pending_for_tenant_stops_its_calls_only(fast_retries, fake_provider, tenant_configuration):
    other = make_tenant_configuration(fake_provider)
    mine = [enqueue(tenant_configuration, ordering_key="c"), enqueue(tenant_configuration)]
    theirs = enqueue(other)
    count = svc.deliveries_cancel_pending(tenant_id=tenant_configuration.tenant_id,
                                          provider=tenant_configuration.provider, reason="токен деактивирован")
    assert count == 2
    for delivery in mine:
        assert engine.delivery_send(delivery_id=delivery.pk) == "final"
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.CANCELLED and delivery.last_error == "токен деактивирован"
    assert engine.delivery_send(delivery_id=theirs.pk) == "delivered"
    assert len(fake_provider.requests) == 1


def test_disabled_tenant_gets_no_calls_except_farewell(fast_retries, tenant_configuration, fake_provider):
    pending = enqueue(tenant_configuration)
    TenantConfiguration.objects.filter(pk=tenant_configuration.pk).update(status=TenantConfiguration.Status.DISABLED)
    tenant_configuration.refresh_from_db()
    # a call written before the switch is cancelled when its turn comes
    assert engine.delivery_send(delivery_id=pending.pk) == "cancelled"
    # new calls are refused, but disconnect still goes out
    with pytest.raises(ConflictError):
        enqueue(tenant_configuration)
    disconnect = enqueue(tenant_configuration, endpoint="disconnect")
    assert engine.delivery_send(delivery_id=disconnect.pk) == "delivered"
    assert [r.endpoint for r in fake_provider.requests] == ["disconnect"]


def test_unknown_or_unconfigured_endpoint_is_refused(fast_retries, fake_provider):
    tc = make_tenant_configuration(fake_provider, endpoints={"sendMessage": f"{fake_provider.url}/sendMessage"})
    with pytest.raises(ApplicationError) as unknown:
        enqueue(tc, endpoint="dropDatabase")
    assert unknown.value.code == "unknown_endpoint"
    with pytest.raises(ApplicationError) as missing:
        enqueue(tc, endpoint="getMessageHistory")
    assert missing.value.code == "endpoint_not_configured" and "endpoint" in missing.value.fields


def test_sweeper_sends_due_rows_and_reclaims_expired_leases(fast_retries, tenant_configuration, fake_provider):
    # given: one row whose dispatch was lost, one stuck in progress after a worker died
    lost = enqueue(tenant_configuration)
    stuck = enqueue(tenant_configuration)
    Delivery.objects.filter(pk=stuck.pk).update(status=Delivery.Status.IN_PROGRESS, attempts=1,
                                                lease_expires_at=timezone.now() - timedelta(seconds=1))
    later = enqueue(tenant_configuration)
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    # when
    dispatched = engine.deliveries_sweep()
    # then
    assert dispatched == 2
    for delivery in (lost, stuck):
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.DELIVERED
    assert list(stuck.attempt_log.values_list("outcome", flat=True)) == ["interrupted", "success"]
    later.refresh_from_db()
    assert later.status == Delivery.Status.PENDING


def test_live_lease_is_not_taken_over(fast_retries, tenant_configuration, fake_provider):
    delivery = enqueue(tenant_configuration)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.IN_PROGRESS, attempts=1,
                                                   lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert engine.delivery_send(delivery_id=delivery.pk) == "busy"
    assert engine.deliveries_sweep() == 0
    assert fake_provider.requests == []


def test_on_delivered_handler_sees_the_response(fast_retries, tenant_configuration, fake_provider):
    seen = []
    engine.on_delivered_handler("test.channels")(lambda d: seen.append(d.response_json["channels"]))
    delivery = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="getChannels", payload={},
                                    on_delivered="test.channels")
    engine.delivery_send(delivery_id=delivery.pk)
    assert seen == [fake_provider.channels]


def test_failing_on_delivered_handler_does_not_resend(fast_retries, tenant_configuration, fake_provider):
    engine.on_delivered_handler("test.broken")(lambda d: 1 / 0)
    delivery = svc.delivery_enqueue(tenant_configuration=tenant_configuration, endpoint="sendMessage", payload={},
                                    on_delivered="test.broken")
    assert engine.delivery_send(delivery_id=delivery.pk) == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and "обработчик ответа упал" in delivery.last_error


def test_webhook_delivery_is_signed_with_the_webhook_secret(fast_retries, tenant_configuration, fake_provider):
    secret = "whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC"
    delivery = svc.delivery_enqueue_webhook(tenant_configuration=tenant_configuration, url=f"{fake_provider.url}/hook",
                                            secret=secret, event="message.sent", payload={"id": 1})
    assert engine.delivery_send(delivery_id=delivery.pk) == "delivered"
    request = fake_provider.requests[0]
    assert Webhook(secret).verify(request.body, request.headers) == {"id": 1}
    assert request.headers["x-sbercrm-event"] == "message.sent" and "x-api-key" not in request.headers


def test_rotated_secret_keeps_signing_during_overlap(fast_retries, tenant_configuration, fake_provider):
    provider = tenant_configuration.provider
    first = svc.provider_signing_secrets(provider=provider)  # issued with the provider
    old = svc.provider_signing_secret_issue(provider=provider)
    new = svc.provider_signing_secret_issue(provider=provider)
    assert old != new and new.startswith("whsec_") and len(first) == 1
    assert svc.provider_signing_secrets(provider=provider)[:2] == [new, old]
    ProviderSigningSecret.objects.filter(secret__in=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert svc.provider_signing_secrets(provider=provider) == [new, old]
    ProviderSigningSecret.objects.filter(secret=old).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert svc.provider_signing_secrets(provider=provider) == [new]


def test_without_a_current_signing_secret_nothing_is_sent_unsigned_and_none_is_issued(
        fast_retries, tenant_configuration, fake_provider):
    # given: every secret of the provider has expired
    provider = tenant_configuration.provider
    ProviderSigningSecret.objects.filter(provider=provider).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = ProviderSigningSecret.objects.filter(provider=provider).count()
    delivery = enqueue(tenant_configuration, chatId="c1", text="Привет")
    # when
    assert engine.delivery_send(delivery_id=delivery.pk) == "dead"
    # then: a read never issues a secret; the moderator sees why
    delivery.refresh_from_db()
    assert fake_provider.requests == []
    assert "нет действующего секрета подписи" in delivery.last_error
    assert ProviderSigningSecret.objects.filter(provider=provider).count() == before


@pytest.mark.integration
def test_sweeper_redispatches_a_row_once_per_grace_period(settings, fast_retries, tenant_configuration,
                                                          fake_provider):
    # given: a due row whose task sits in a long broker backlog (no worker consumes this queue)
    from config.celery import app
    settings.DELIVERY_SWEEP_GRACE = 60
    settings.DELIVERY_QUEUE = f"deliveries-never-consumed-{tenant_configuration.pk}"
    delivery = enqueue(tenant_configuration)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        # when: the sweeper runs twice in a row
        first, second = engine.deliveries_sweep(), engine.deliveries_sweep()
        queued = client.llen(settings.DELIVERY_QUEUE)
        client.delete(settings.DELIVERY_QUEUE)
    # then: one task was queued, not two, and nothing was sent
    assert (first, second, queued) == (1, 0, 1)
    assert fake_provider.requests == []


def test_sweeper_task_is_scheduled_by_beat(settings):
    from communications import tasks
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["communications-deliveries-sweep"]
    assert entry["task"] == tasks.deliveries_sweep_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 60


def test_direct_call_uses_the_same_auth_and_signature(fast_retries, tenant_configuration, fake_provider):
    # given: a history page to fetch synchronously (initial sync pages through it)
    secret = svc.provider_signing_secret_issue(provider=tenant_configuration.provider)
    fake_provider.history = [{"id": i} for i in range(5)]
    # when
    result = svc.provider_call_now(tenant_configuration=tenant_configuration, endpoint="getMessageHistory",
                                   payload={"cursor": "2", "limit": 2}, idempotency_key="sync-page-2")
    # then
    assert result.json == {"messages": [{"id": 2}, {"id": 3}], "nextCursor": "4"}
    request = fake_provider.requests[0]
    assert request.headers["x-api-key"] == "api-key-of-the-provider-1234"
    assert request.headers["x-sbercrm-tenant"] == str(tenant_configuration.tenant_id)
    Webhook(secret).verify(request.body, request.headers)
