"""gunicorn settings read from the working directory (command-line flags still win).

Issue 20 (docs/operations.md): Prometheus multiprocess mode. With PROMETHEUS_MULTIPROC_DIR set, the
master empties the directory at start and drops a dead worker's live gauges; /metrics in any worker
adds up the files of all of them.
"""


def on_starting(server):
    from config.observability.exporter import multiproc_dir_wipe

    multiproc_dir_wipe()


def child_exit(server, worker):
    from config.observability.exporter import multiproc_process_dead

    multiproc_process_dead(worker.pid)
