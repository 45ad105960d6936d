"""`make demo`: platform simulators plus simulated customers on every channel.

Every registered channel (inbox_core.channels, entry points `inbox.channels`) with a
`Simulator` takes part: its simulator is started as a process on a free port and points
the channel's service at itself (env), then its simulated customers write in turn,
weighted, while a demo agent answers. A one-line live summary is printed. This module
knows no channel: what a channel's customers say and how lives in the channel's package.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from inbox_core.channels import ChannelRegistration, DemoSite, registered
from inbox_core.demo_phrases import post_json
from inbox_core.embedded import ManagedProcess, free_port, port_open, wait_until
from inbox_core.faq_examples import example_entries

DEMO_ANSWER = "안녕하세요, 문의 주셔서 감사합니다. 확인 후 바로 안내드리겠습니다."


class Launcher(Protocol):
    """What the demo needs of the stack that runs it (inbox_core.stack.Stack)."""

    env: dict[str, str]
    data_dir: Path
    log_dir: Path
    extras: list[ManagedProcess]

    def start_process(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> ManagedProcess: ...

    def say(self, text: str) -> None: ...


class Demo:
    def __init__(
        self, stack: Launcher, rate: float = 0.5, channels: list[ChannelRegistration] | None = None
    ) -> None:
        self.stack = stack
        self.rate = max(rate, 0.05)
        specs = registered() if channels is None else channels
        self.channels = [spec for spec in specs if spec.simulator is not None]
        self.sites: dict[str, DemoSite] = {}  # channel → its simulator's site
        self.sent = {spec.name: 0 for spec in self.channels} | {"failed": 0}
        self._thread: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self.waits: list[tuple[ManagedProcess, int]] = []

    def configure(self) -> list[tuple[str, int, list[str]]]:
        """Set the services' env for every simulator, each on a free port; the simulators
        to start (process name, port, command)."""
        plan = []
        for spec in self.channels:
            assert spec.simulator is not None
            site = DemoSite(self.stack.env, free_port(), self.stack.data_dir)
            self.sites[spec.name] = site
            command = spec.simulator.start(site)
            if command is not None:
                plan.append((f"sim-{spec.name.replace('_', '-')}", site.port, command))
        return plan

    def prepare(self) -> None:
        """Start the simulators and point the connectors at them (env for the services)."""
        for name, port, cmd in self.configure():
            proc = self.stack.start_process(name, cmd)
            self.stack.extras.append(proc)
            self.waits.append((proc, port))
        for proc, port in self.waits:
            wait_until(lambda p=port: port_open("127.0.0.1", p), 30, proc.name, proc)  # type: ignore[misc]
        names = ", ".join(spec.name for spec in self.channels)
        self.stack.say(f"demo: simulators up for {names} (logs in {self.stack.log_dir})")

    # --- traffic -------------------------------------------------------------------------

    def customers(self) -> list[tuple[str, Callable[[], None]]]:
        """One simulated customer message per call, each channel as often as its weight:
        every channel's first turn, then the second turns of those weighted more, …"""
        writers = []
        for spec in self.channels:
            simulator, site = spec.simulator, self.sites.get(spec.name)
            if simulator is not None and simulator.customer is not None and site is not None:
                writer = simulator.customer
                turn = (spec.name, lambda w=writer, s=site: w(s))
                writers.append((max(1, simulator.weight), turn))
        rounds = max((weight for weight, _ in writers), default=0)
        return [turn for r in range(rounds) for weight, turn in writers if weight > r]

    def _queue_size(self, token: str | None) -> int | None:
        if token is None:
            return None
        port = self.stack.env.get("INBOX_API_PORT", "8080")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/conversations?limit=200",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return len(json.loads(resp.read())["items"])
        except OSError:
            return None

    def seed_faq(self, token: str | None) -> None:
        """The example FAQ entries of a Korean shop (faq_examples.yaml), into an empty FAQ,
        so the bot answers the demo's chat questions and agents see suggestions."""
        if token is None:
            return
        base = f"http://127.0.0.1:{self.stack.env.get('INBOX_API_PORT', '8080')}/api/faq"
        auth = {"Authorization": f"Bearer {token}"}
        try:
            with urllib.request.urlopen(urllib.request.Request(base, headers=auth), timeout=5) as r:
                if json.loads(r.read())["items"]:
                    return
            for entry in example_entries():
                post_json(base, {k: v for k, v in entry.items() if k != "key"}, auth)
        except (OSError, ValueError) as err:
            self.stack.say(f"demo: FAQ entries not loaded: {err}")
            return
        self.stack.say(f"demo: loaded {len(example_entries())} example FAQ entries")

    def answer_one(self, token: str | None) -> None:
        """The demo's own agent: answers the most urgent unanswered open conversation, or
        resolves one it answered, so the reports page shows response times and 응대율."""
        if token is None:
            return
        base = f"http://127.0.0.1:{self.stack.env.get('INBOX_API_PORT', '8080')}/api/conversations"
        auth = {"Authorization": f"Bearer {token}"}
        req = urllib.request.Request(f"{base}?status=open&limit=20", headers=auth)
        with urllib.request.urlopen(req, timeout=5) as resp:
            items = json.loads(resp.read())["items"]
        answered = [c for c in items if (c.get("sla") or {}).get("first_response_at")]
        waiting = [c for c in items if c not in answered]
        if answered and (len(answered) > 3 or not waiting):
            post_json(f"{base}/{answered[0]['id']}/status", {"status": "resolved"}, auth)
        elif waiting:
            post_json(f"{base}/{waiting[0]['id']}/reply", {"text": DEMO_ANSWER}, auth)

    def _loop(self, token: str | None, stopping: threading.Event) -> None:
        self.seed_faq(token)
        turns = self.customers()
        if not turns:
            self.stack.say("demo: no registered channel has a simulated customer")
            return
        senders = itertools.cycle(turns)
        agent_turn = itertools.cycle([False, True, False])  # the demo agent acts every third
        last_line = 0.0
        tty = sys.stdout.isatty()
        while not stopping.wait(1.0 / self.rate):
            channel, sender = next(senders)
            try:
                sender()
                self.sent[channel] += 1
                if next(agent_turn):
                    self.answer_one(token)
            except (OSError, ValueError) as err:
                self.sent["failed"] += 1
                self.stack.say(f"demo: a {channel} customer failed: {err}")
            now = time.monotonic()
            if now - last_line >= (1.0 if tty else 10.0):
                last_line = now
                size = self._queue_size(token)
                counts = " ".join(f"{k}={v}" for k, v in self.sent.items())
                line = f"demo: sent {counts} | queue: {size if size is not None else '?'}"
                if tty:
                    print("\r" + line, end="", flush=True)
                else:
                    print(line, flush=True)

    def start(self, token: str | None, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._thread = threading.Thread(target=self._loop, args=(token, stopping), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=15)
            print("", flush=True)
