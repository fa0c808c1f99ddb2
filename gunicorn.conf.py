"""gunicorn settings of the production layout (docker-compose `web`, Dockerfile); tested in
config/tests/reliability/test_edge_proxy.py against a real gunicorn. Command-line flags still win.

nginx (deploy/nginx/) sits in front: it buffers slow clients and whole bodies, so the sync
workers only ever see complete requests.

Prometheus multiprocess mode (docs/operations.md): with PROMETHEUS_MULTIPROC_DIR set, the master
empties the directory at start and drops a dead worker's live gauges; /metrics in any worker adds up
the files of all of them.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# gunicorn's own error answers (oversized headers, a broken request line) in the JSON envelope
worker_class = "config.gunicorn_worker.JsonErrorSyncWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 2
# request limits, matched by nginx's large_client_header_buffers (4 x 8k)
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Access log: the path without its query string (tokens travel in query strings), and no
# Referer (it carries the previous page's query string). The client is nginx's X-Real-IP.
# It ends with the request id the application returned, like every application log line.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = ('%(h)s %({x-real-ip}i)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" '
                     'rid=%({x-request-id}o)s')
errorlog = "-"


def on_starting(server):
    from config.observability.exporter import multiproc_dir_wipe

    multiproc_dir_wipe()


def child_exit(server, worker):
    from config.observability.exporter import multiproc_process_dead

    multiproc_process_dead(worker.pid)
