"""config/sql.py helpers that the statement-budget tests do not reach on their own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communications.models import Delivery, DeliveryAttempt
from communications.tests.factories import DeliveryAttemptFactory, DeliveryFactory
from config.sql import known_empty

pytestmark = pytest.mark.django_db


def test_known_empty_reads_as_an_evaluated_empty_queryset():
    # given: a delivery with an attempt
    delivery = DeliveryFactory()
    DeliveryAttemptFactory(delivery=delivery)
    delivery = Delivery.objects.get(pk=delivery.pk)
    # when: its attempts are marked as known empty (as for a row just written)
    known_empty(delivery, "attempt_log")
    # then: reading them costs no statement and gives nothing, through a QuerySet of the related model
    with CaptureQueriesContext(connection) as queries:
        rows = delivery.attempt_log.all()
        assert list(rows) == [] and rows.count() == 0 and not rows.exists() and rows.first() is None
    assert len(queries) == 0
    assert rows.model is DeliveryAttempt
    # and a fresh read of the row sees the stored attempt again
    assert Delivery.objects.get(pk=delivery.pk).attempt_log.count() == 1
