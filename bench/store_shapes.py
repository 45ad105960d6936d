"""Every store command the pipeline sends per new conversation, by query shape.

`python bench/store_shapes.py [N]` starts the whole stack, turns the store's profiler on
(`profile` level 2: every command lands in `system.profile` with its duration), sends a
burst of N new conversations through the Messenger webhook, waits for their
`conversation.created` events and prints, per collection, operation and filter shape: how
many per message, the store milliseconds they took, and the plan `explain` gives for one
sample of each read shape (COLLSCAN is what to look for). The store's CPU per message is
taken from /proc around the burst.

The profiler itself costs the store work (one insert per command), so the store CPU here is
higher than in `make bench`; the shapes and their counts are what this is for.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from run_bench import burst, cpu_s, stack_with_pipeline  # bench/ is on sys.path
from service_figures import Profiler

SKIP = {"hello", "isMaster", "ismaster", "ping", "buildInfo", "getMore", "endSessions"}


def _shape(value: Any) -> Any:
    """The query's shape: field names and operators, values replaced by their type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _describe(cmd: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(collection, operation + shape, sample filter for explain) of one profiled command."""
    name = next(iter(cmd))
    coll = str(cmd.get(name))
    if name == "find":
        shape = (
            f"find {_shape(cmd.get('filter', {}))} sort={cmd.get('sort')} lim={cmd.get('limit')}"
        )
        return [(coll, shape, cmd.get("filter", {}))]
    if name == "update":
        return [
            (
                coll,
                f"update q={_shape(u['q'])} u={_shape(u['u'])} upsert={u.get('upsert', False)}",
                None,
            )
            for u in cmd.get("updates", [])
        ]
    if name == "delete":
        return [(coll, f"delete q={_shape(d['q'])}", None) for d in cmd.get("deletes", [])]
    if name == "insert":
        return [(coll, f"insert x{len(cmd.get('documents', []))}", None)]
    if name.lower() == "findandmodify":
        return [
            (
                coll,
                f"findAndModify q={_shape(cmd.get('query'))} u={_shape(cmd.get('update'))} "
                f"upsert={cmd.get('upsert', False)} sort={cmd.get('sort')}",
                None,
            )
        ]
    if name == "aggregate":
        return [(coll, f"aggregate {_shape(cmd.get('pipeline'))}", None)]
    if name == "count":
        return [(coll, f"count {_shape(cmd.get('query', {}))}", cmd.get("query", {}))]
    return [(coll, f"{name} {_shape({k: v for k, v in cmd.items() if k != name})}", None)]


def inclusive(out: Path, top: int = 40) -> list[str]:
    """Inclusive share of busy samples of the store's own functions (commands and storage)."""
    incl: Counter[str] = Counter()
    total = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        seen = set()
        for frame in stack.split(";"):
            func, _, where = frame.partition(" (")
            if "secantus" not in where:
                continue
            key = f"{func} ({Path(where.rstrip(')').rsplit(':', 1)[0]).name})"
            if key not in seen:
                seen.add(key)
                incl[key] += int(n)
    return [f"  {c / max(total, 1):5.1%} {k}" for k, c in incl.most_common(top)]


def _plan(db: Any, coll: str, flt: dict[str, Any]) -> str:
    try:
        exp = db.command("explain", {"find": coll, "filter": flt}, verbosity="queryPlanner")
    except Exception as err:
        return f"explain failed: {err}"
    stage = exp.get("queryPlanner", {}).get("winningPlan", {})
    parts = []
    while stage:
        parts.append(
            stage.get("stage", "?") + (f"({stage['indexName']})" if "indexName" in stage else "")
        )
        stage = stage.get("inputStage") or {}
    return ">".join(parts)


async def main(n: int) -> None:
    async with stack_with_pipeline(limit=200) as (harness, pipe):
        url = f"mongodb://127.0.0.1:{harness.mongo_port}/?directConnection=true"
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        db = client["inbox"]
        run_dir = Path(harness.env["INBOX_DATA_DIR"]) / "run"
        await burst(pipe, 20, 20, 60, prefix="W")  # warm up: indexes, connections, models
        await asyncio.sleep(2)
        store_pid = int((run_dir / "store.pid").read_text().strip())
        prof = Profiler(store_pid, rate=200)
        spied = await prof.start()
        before = cpu_s(run_dir)
        plain = await burst(pipe, n, 50, 300, prefix="P")
        await asyncio.sleep(3)
        cpu = {k: v - before.get(k, 0.0) for k, v in cpu_s(run_dir).items()}
        await prof.stop()
        done = plain["delivered"] or 1
        print(f"unprofiled burst: capacity {plain['capacity_per_s']:.1f}/s")
        print(
            "CPU ms per message: "
            + ", ".join(f"{k} {v * 1000 / done:.1f}" for k, v in sorted(cpu.items()))
        )
        if spied:
            for line in inclusive(prof.out):
                print(line)
        db.command("profile", 2)
        before = cpu_s(run_dir)
        start = time.perf_counter()
        result = await burst(pipe, n, 50, 300)
        await asyncio.sleep(3)  # outbox marks and delivery reports that follow the events
        cpu = {k: v - before.get(k, 0.0) for k, v in cpu_s(run_dir).items()}
        db.command("profile", 0)
        wall = time.perf_counter() - start
        entries = list(db["system.profile"].find({}))
        per: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
        samples: dict[tuple[str, str], dict[str, Any]] = {}
        for e in entries:
            cmd = e.get("command", {})
            if not cmd or next(iter(cmd)) in SKIP:
                continue
            described = _describe(cmd)
            for coll, shape, flt in described:  # a bulk command's time, shared by its statements
                per[(coll, shape)][0] += 1
                per[(coll, shape)][1] += e.get("millis", 0) / len(described)
                if flt is not None:
                    samples.setdefault((coll, shape), flt)
        delivered = result["delivered"] or 1
        print(
            f"{delivered} new conversations in {wall:.1f} s; "
            f"capacity {result['capacity_per_s']:.1f}/s"
        )
        print(
            "CPU ms per message: "
            + ", ".join(f"{k} {v * 1000 / delivered:.1f}" for k, v in sorted(cpu.items()))
        )
        total = sum(c for c, _ in per.values())
        print(f"store commands per message (profiled): {total / delivered:.2f}")
        for (coll, shape), (count, ms) in sorted(per.items(), key=lambda kv: -kv[1][1]):
            plan = _plan(db, coll, samples[(coll, shape)]) if (coll, shape) in samples else ""
            print(
                f"  {count / delivered:6.2f}/msg {ms / delivered:7.2f} ms/msg  "
                f"{coll:<18} {shape}  {plan}"
            )
        client.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
