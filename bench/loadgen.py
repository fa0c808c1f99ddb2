"""HTTP load generator, run as its own process by bench/run.py (never inside the server).

Each of `--concurrency` threads keeps one connection (re-opened when the server closes it,
as gunicorn's sync workers do) and sends requests built by `bench/scenarios.py`:
- closed loop (default): back to back for `--duration` seconds;
- open loop (`--rate R`): R requests/s in total, evenly paced across the threads.
Prints one JSON object: requests, statuses, req/s, items/s, latency p50/p95/p99 (ms), and
the generator's own CPU use (to show it is not the bottleneck).
"""

import argparse
import http.client
import json
import resource
import threading
import time
import urllib.parse

from scenarios import SCENARIOS


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def worker(args, base, headers, factory, params, started, deadline, seed, index, out, lock):
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    interval = args.concurrency / args.rate if args.rate else 0.0
    next_at = started + index / args.rate if args.rate else 0.0
    latencies, statuses, errors, n = [], {}, [], 0
    while True:
        if interval:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
        if time.perf_counter() >= deadline:
            break
        method, path, body = factory(params, seed, n)
        data = json.dumps(body).encode() if body is not None else None
        begin = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
            if status >= 300 and len(errors) < 3:
                errors.append(f"{status} {payload[:300].decode(errors='replace')}")
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
            status = 0
            if len(errors) < 3:
                errors.append(repr(exc))
        latencies.append((time.perf_counter() - begin) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        n += 1
    conn.close()
    with lock:
        out["latencies"].extend(latencies)
        out["errors"].extend(errors)
        for key, value in statuses.items():
            out["statuses"][key] = out["statuses"].get(key, 0) + value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--params", default="{}", help="JSON given to the scenario (seeded ids)")
    parser.add_argument("--token", default="")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0, help="open loop: total requests per second")
    parser.add_argument("--items-per-request", type=int, default=1)
    args = parser.parse_args()

    base = urllib.parse.urlsplit(args.url)
    headers = {"Content-Type": "application/json", "Host": base.hostname}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    factory, params = SCENARIOS[args.scenario], json.loads(args.params)
    out = {"latencies": [], "statuses": {}, "errors": []}
    lock = threading.Lock()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + args.duration
    threads = [threading.Thread(target=worker, args=(args, base, headers, factory, params, started, deadline,
                                                     f"{int(time.time() * 1000)}-{i}", i, out, lock))
               for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies = sorted(out["latencies"])
    ok = sum(count for status, count in out["statuses"].items() if 200 <= status < 300)
    print(json.dumps({
        "requests": len(latencies),
        "ok": ok,
        "errors": len(latencies) - ok,
        "statuses": {str(k): v for k, v in sorted(out["statuses"].items())},
        "error_samples": out["errors"][:3],
        "elapsed_s": round(elapsed, 2),
        "req_per_s": round(ok / elapsed, 1),
        "items": ok * args.items_per_request,
        "items_per_s": round(ok * args.items_per_request / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "loadgen_cpu_pct": round(100 * cpu / elapsed, 1),
    }))


if __name__ == "__main__":
    main()
