"""gunicorn settings read from the working directory (command-line flags still win).

Issue 20 (docs/operations.md): Prometheus multiprocess mode. With PROMETHEUS_MULTIPROC_DIR set, the
master empties the directory at start and drops a dead worker's live gauges; /metrics in any worker
adds up the files of all of them. The access log (when enabled, e.g. `--access-logfile -`) ends with the
request id the application returned, like every application log line.
"""

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms rid=%({x-request-id}o)s'


def on_starting(server):
    from config.observability.exporter import multiproc_dir_wipe

    multiproc_dir_wipe()


def child_exit(server, worker):
    from config.observability.exporter import multiproc_process_dead

    multiproc_process_dead(worker.pid)
