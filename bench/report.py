"""Markdown tables from `make bench` results (README "Performance", docs/performance.md).

    python bench/report.py bench/results/latest.json                 # the current table
    python bench/report.py bench/results/issue19-before.json bench/results/latest.json   # before → after
"""

import json
import sys
from pathlib import Path

ROWS = ("loadgen ceiling (/bench/ping)", "/bench/ping at 50 req/s", "S1 ingest", "S2 ingest, new chat", "S3 bulk",
        "S4 floor", "S5 outbound", "S5 outbound at 20 msg/s", "S5 outbound, capacity", "S6 notifications",
        "S4 floor (again)", "S7 initial sync", "Chat list (operator)", "S1 ingest (again)", "S5 outbound (again)",
        "Chat list (again)", "S4 floor (before the seed)", "S8 S1 ingest", "S8 S5 outbound", "S8 chat list",
        "S4 floor (after S8)")
# Ratios shown under the goals, not goals themselves: the VM's drift across S8 and the S8 ratios over it; what a
# request that arrives alone costs more than one in a stream (a paced scenario against the same at capacity).
CONTROLS = ("after S8/before the seed", "over the floor's drift", "minus at capacity",
            "web + worker CPU ms at capacity")


def _rate(r: dict) -> str:
    if "delivered_per_s" in r:
        return f"{r['delivered_per_s']} delivered/s; e2e p99 {r['e2e_p99_ms']:.0f} ms"
    if r.get("req_per_s") in (None, "") or r.get("items_per_s") != r.get("req_per_s"):
        return f"{r.get('items_per_s', '')} items/s" + (f" ({r['req_per_s']} req/s)" if r.get("req_per_s") else "")
    return f"{r['req_per_s']} req/s; p99 {r['p99_ms']:.0f} ms"


def _cost(r: dict) -> str:
    c = r.get("cost", {})
    if not c:
        return "—"
    return (f"{c['cpu_ms_per_item']} ({c['cpu_ms_per_item_web_worker']} + pg {c['cpu_ms_per_item_postgres']}); "
            f"SQL {c['sql_per_item']}")


def table(results: list[dict]) -> str:
    heads = [r["generated_at"][:16].replace("T", " ") for r in results]
    lines = ["| scenario | " + " | ".join(f"{h}: rate | {h}: CPU ms/item (web+worker + pg); SQL" for h in heads)
             + " |", "|---" * (1 + 2 * len(results)) + "|"]
    for name in ROWS:
        if not any(name in r["scenarios"] for r in results):
            continue
        cells = []
        for r in results:
            s = r["scenarios"].get(name)
            cells += [_rate(s), _cost(s)] if s else ["—", "—"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| ratio / goal | " + " | ".join(heads) + " |")
    lines.append("|---" * (1 + len(results)) + "|")
    goals = {}
    for i, r in enumerate(results):
        for g in r.get("goals", []):
            goals.setdefault(g["goal"], [""] * len(results))[i] = f"{g['value']} {'✔' if g['met'] else '✘'}"
    for goal, cells in goals.items():
        lines.append(f"| {goal} | " + " | ".join(cells) + " |")
    controls = {}
    for i, r in enumerate(results):
        for key, value in r.get("ratios", {}).items():
            if key.endswith(CONTROLS):
                controls.setdefault(key, [""] * len(results))[i] = str(value)
    for key, cells in controls.items():
        lines.append(f"| {key} (not a goal) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.loads(Path(p).read_text()) for p in sys.argv[1:]]))
