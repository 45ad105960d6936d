"""Figures the bench reads from the running services: store round trips and batch sizes from
their /metrics, and a sampling profile (py-spy) of one process with a short summary."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    """Every sample of a service's /metrics, keyed by name and labels."""
    async with http.get(f"{base}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        text = await resp.text()
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = tuple(
            (k, v.strip('"'))
            for k, _, v in (p.partition("=") for p in rest.rstrip("}").split(",") if p)
        )
        with contextlib.suppress(ValueError):
            out[(name, labels)] = float(value)
    return out


def round_trips(before: Samples, after: Samples) -> Counter[str]:
    """Store commands sent between two scrapes, by collection."""
    spent: Counter[str] = Counter()
    for (name, labels), value in after.items():
        if name == "inbox_store_commands_total":
            collection = dict(labels).get("collection", "?")
            spent[collection] += value - before.get((name, labels), 0.0)
    return +spent


def mean_batch(before: Samples, after: Samples) -> tuple[float, int]:
    """Mean messages per handled batch between two scrapes, and the number of batches."""
    total = count = 0.0
    for (name, labels), value in after.items():
        if name == "inbox_bus_batch_messages_sum":
            total += value - before.get((name, labels), 0.0)
        elif name == "inbox_bus_batch_messages_count":
            count += value - before.get((name, labels), 0.0)
    return (total / count if count else 0.0), int(count)


class Profiler:
    """`py-spy record` attached to one process until stopped; then a summary of where its
    busy samples were (idle threads are left out by py-spy)."""

    def __init__(self, pid: int, rate: int = 100) -> None:
        self.pid, self.rate = pid, rate
        self.dir = Path(tempfile.mkdtemp(prefix="inbox-bench-prof-"))
        self.out = self.dir / "stacks.txt"
        self.proc: asyncio.subprocess.Process | None = None
        self.error = ""

    @staticmethod
    def available() -> str | None:
        here = Path(sys.executable).parent / "py-spy"
        return str(here) if here.exists() else shutil.which("py-spy")

    async def start(self) -> bool:
        binary = self.available()
        if binary is None:
            self.error = "py-spy is not installed (it is in requirements-dev.txt)"
            return False
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--output",
            str(self.out),
            "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # attached, or failed (no ptrace permission)
        if self.proc.returncode is not None:
            err = (await self.proc.stderr.read() if self.proc.stderr else b"").decode(
                errors="replace"
            )
            last = err.strip().splitlines()[-1:] or [f"py-spy exited with {self.proc.returncode}"]
            self.error = last[0]
            return False
        return True

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def summary(self, top: int = 8) -> list[str]:
        """Top functions by own (leaf) samples, and the project's and libraries' shares."""
        if not self.out.exists():
            return [f"no profile: {self.error or 'py-spy wrote nothing'}"]
        leaf: Counter[str] = Counter()
        area: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text(errors="replace").splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            count = int(n)
            total += count
            frames = stack.split(";")
            leaf[_short(frames[-1])] += count
            area[_area(frames)] += count
        shutil.rmtree(self.dir, ignore_errors=True)
        if not total:
            return ["no busy samples"]
        lines = [
            "where the busy samples are: "
            + ", ".join(f"{name} {n / total:.0%}" for name, n in area.most_common(6))
        ]
        lines.append("top functions (own time):")
        lines += [f"  {n / total:5.1%}  {name}" for name, n in leaf.most_common(top)]
        return lines


def _short(frame: str) -> str:
    """`func (path/to/module.py:123)` → `func (module.py)`."""
    func, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{func} ({Path(file).name})" if file else func


_AREAS = (
    ("inbox_", "our code"),
    ("secantus", "the store server"),
    ("pymongo", "pymongo"),
    ("bson", "bson"),
    ("nats", "nats-py"),
    ("pydantic", "pydantic"),
    ("opentelemetry", "opentelemetry"),
    ("aiohttp", "aiohttp"),
    ("asyncio", "asyncio"),
)


def _area(frames: list[str]) -> str:
    """The innermost frame's library, so time spent inside pymongo counts as pymongo."""
    for frame in reversed(frames):
        where = frame.partition(" (")[2]
        for needle, name in _AREAS:
            if needle in where:
                return name
    return "other"
