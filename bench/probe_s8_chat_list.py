"""A/B on the database a full `make bench` leaves behind (S8 seeded): the operator's chat list of the bench tenant
with its 2,000 seeded chats (A) and with them moved to another tenant (B), alternated for 4 rounds, against one
gunicorn of the production layout, the same page each time. Prints web and PostgreSQL CPU per request (from /proc)
and p99 per 8-second window. Run after `make bench`, with nothing else on the machine:
    .venv/bin/python bench/probe_s8_chat_list.py
The seeded chats are moved back after each B window."""

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402
import run as b  # noqa: E402  (bench/run.py is a script, not a package module)

telegram = b.FakeTelegram().start()
env = b.stack_env(telegram)
os.environ.update(env)
os.environ.pop("BENCH_SQL_COUNT_DIR")
import django  # noqa: E402

django.setup()
from django.db import connections  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from communications.models import Chat  # noqa: E402
from config.management.commands.create_service_account import service_account_ensure  # noqa: E402

token = str(AccessToken.for_user(service_account_ensure(username="bench-crm", role="crm")))
chat0 = Chat.objects.filter(external_id="chat-0").first()
tenant, parked = str(chat0.tenant_id), str(uuid.uuid4())
connections.close_all()
procs = []
port = b.free_port()
base = f"http://127.0.0.1:{port}"
layout = b.production_layout(port)
web_env = {**env, **layout["web_env"]}
web_env.pop("BENCH_SQL_COUNT_DIR", None)
g = b.spawn("gunicorn", layout["web"], web_env, procs)
b.wait_for(lambda: b._status(base + "/healthz") == 200, 60, "healthz")
params = {"tenant_id": tenant, "provider_code": "bench"}
conn = psycopg.connect(f"{b.PG_URL}/{b.DB_NAME}", autocommit=True, application_name=b.RUNNER_APP)


def move(src, dst):
    conn.execute("UPDATE communications_chat SET tenant_id = %s WHERE tenant_id = %s AND external_id LIKE 's8-%%'",
                 [dst, src])
    conn.execute("VACUUM communications_chat")


try:
    b.loadgen(base, "chats", token=token, params=params, duration=2)
    for rnd in range(4):
        for state in ("A seeded", "B parked"):
            if state.startswith("B"):
                move(tenant, parked)
            count = conn.execute("SELECT count(*) FROM communications_chat WHERE tenant_id = %s", [tenant]).fetchone()[0]
            b.loadgen(base, "chats", token=token, params=params, duration=1)
            tab = b._proc_table()
            t0 = b._tree_cpu(tab, g.pid)
            pg0 = {p: tab[p][1] for p in b._pg_backends(conn) if p in tab}
            r = b.loadgen(base, "chats", token=token, params=params, duration=8)
            tab = b._proc_table()
            t1 = b._tree_cpu(tab, g.pid)
            pg1 = sum(tab[p][1] - pg0.get(p, 0) for p in b._pg_backends(conn) if p in tab)
            print(f"round {rnd} {state}: tenant's chats {count}, {r['ok']} requests, web {1000 * (t1 - t0) / r['ok']:.2f}"
                  f" ms, pg {1000 * pg1 / r['ok']:.2f} ms, p99 {r['p99_ms']} ms", flush=True)
            if state.startswith("B"):
                move(parked, tenant)
finally:
    b.stop_all(procs)
