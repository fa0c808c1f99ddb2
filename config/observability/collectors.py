"""Gauges computed when Prometheus scrapes: delivery backlog per kind (one query) and the beat sweepers.

Read from PostgreSQL and the shared cache, so every web process reports the same truth; nothing is kept
in process memory (which multiprocess mode could not aggregate for gauges like these).
"""

import logging

from prometheus_client.core import GaugeMetricFamily

from config.observability.beat import sweeper_states, sweeper_tracking
from config.observability.selectors import delivery_backlog_by_kind

logger = logging.getLogger(__name__)


class OperationsCollector:
    def collect(self):
        yield from self._deliveries()
        yield from self._beat()

    def _deliveries(self):
        pending = GaugeMetricFamily("sbercrm_deliveries_pending", "Deliveries waiting to be sent (pending or in "
                                    "progress), by kind.", labels=["kind"])
        dead = GaugeMetricFamily("sbercrm_deliveries_dead", "Dead deliveries (need a moderator), by kind.",
                                 labels=["kind"])
        oldest = GaugeMetricFamily("sbercrm_deliveries_oldest_pending_age_seconds",
                                   "Age of the oldest waiting delivery, by kind (0: none waiting).", labels=["kind"])
        for row in delivery_backlog_by_kind():
            pending.add_metric([row.kind], row.pending)
            dead.add_metric([row.kind], row.dead)
            oldest.add_metric([row.kind], row.oldest_pending_age)
        yield from (pending, dead, oldest)

    def _beat(self):
        last = GaugeMetricFamily("sbercrm_beat_sweeper_last_success_timestamp_seconds",
                                 "Unix time of the last successful run of each beat sweeper (0: never seen).",
                                 labels=["task"])
        stale = GaugeMetricFamily("sbercrm_beat_sweeper_stale", "1 when a beat sweeper has not succeeded for more "
                                  "than three of its intervals.", labels=["task"])
        try:
            states = sweeper_states() if sweeper_tracking() == "on" else []
        except Exception as exc:  # the cache is down: say so through the absence of the series
            logger.warning("metrics: beat sweeper states unavailable (%s)", type(exc).__name__)
            states = []
        for state in states:
            last.add_metric([state.task], state.last_success or 0)
            stale.add_metric([state.task], 1 if state.stale else 0)
        yield from (last, stale)
