"""Metrics exposition outside web: multiprocess directory hygiene and a small exporter for the
worker and the polling bots (METRICS_PORT, bound to METRICS_ADDR, 127.0.0.1 by default).

Web serves /metrics itself (config/observability/views.py). One PROMETHEUS_MULTIPROC_DIR per process
group (a gunicorn master and its workers, or a Celery worker and its pool): the group wipes it at start.
"""

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def multiproc_dir_wipe() -> None:
    """Start the group with an empty directory: files of an earlier run would be added to ours."""
    directory = multiproc_dir()
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def multiproc_process_dead(pid: int) -> None:
    if multiproc_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def registry_for_scrape():
    """The registry to expose: the merged files of the group in multiprocess mode, else this process."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not multiproc_dir():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def exporter_start() -> int | None:
    """Serve this group's metrics on METRICS_PORT; returns the port, None when unset."""
    port = int(os.environ.get("METRICS_PORT") or 0)
    if not port:
        return None
    from prometheus_client import start_http_server

    address = os.environ.get("METRICS_ADDR", "127.0.0.1")
    start_http_server(port, addr=address, registry=registry_for_scrape())
    logger.info("metrics exporter on %s:%s", address, port)
    return port


def metrics_process_start() -> int | None:
    """At the start of a worker or a polling bot: an empty multiprocess directory, then the exporter."""
    multiproc_dir_wipe()
    return exporter_start()
