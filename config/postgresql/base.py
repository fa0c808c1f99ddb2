"""Django's PostgreSQL backend, with a health check that costs no round trip (issue 19).

With CONN_HEALTH_CHECKS, Django checks a reused connection before the first query of every request and task
by running `SELECT 1`: one more round trip and statement each time (~5 % of an API request's CPU). A server
that ends a connection (a restart, `pg_terminate_backend`, `idle_session_timeout`, a proxy) sends its reason
and closes the socket, so an idle connection's socket becomes readable. The check here asks the socket
without waiting: nothing to read on an idle connection in autocommit means the connection is as good as
`SELECT 1` would find it. Anything else (data waiting, a transaction open or failed, no `poll`) falls back
to Django's `SELECT 1`. A peer that vanished without closing (a dead host) blocks `SELECT 1` as well, until
TCP gives up, so the fallback would not see it sooner.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        pgconn = connection.pgconn
        if (pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE
                or not hasattr(select, "poll")):
            return super().is_usable()
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        if poller.poll(0):  # the server said something (mostly: goodbye) or hung up: ask it
            return super().is_usable()
        return True
