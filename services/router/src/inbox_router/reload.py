"""The current rule set, reloaded on SIGHUP or when the file changes, without a restart.

The router reads `source.current` once per message, so a message is routed with one rule set
from start to end, and a reload is a single reference swap: no message waits, none is
dropped. A file that does not load (bad YAML, a bad field) leaves the previous rules in place;
the error is logged and shown under `checks.rules` in /healthz. At start-up a bad file is an
error: the service does not start with rules nobody checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from inbox_core.logging import get_logger
from inbox_core.schema import utcnow
from inbox_router.rules import RulesError, RuleSet, load_rules

log = get_logger(__name__)

RELOADS = Counter(
    "inbox_router_rules_reloads_total", "Rules file reloads, by outcome (ok, error)", ["outcome"]
)

Signature = tuple[int, int, int] | None


def _signature(path: Path) -> Signature:
    """What changes when the file is written or replaced (an editor's atomic rename too)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class RuleSource:
    """Holds the rule set in use; `reload()` swaps it atomically or keeps the old one."""

    def __init__(self, path: Path | None, rules: RuleSet | None = None) -> None:
        self.path = path
        self._signature: Signature = _signature(path) if path else None
        if rules is None:
            if path is None:
                raise ValueError("a rule source needs a path or a rule set")
            rules = load_rules(path)  # RulesError at start-up: refuse to start
        self.current: RuleSet = rules
        self.loaded_at: datetime = utcnow()
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reloaded = asyncio.Event()

    @classmethod
    def fixed(cls, rules: RuleSet) -> RuleSource:
        """A source that never reloads (tests, embedding)."""
        return cls(None, rules)

    def reload(self) -> bool:
        """Load the file again; True when the new rules are in use."""
        if self.path is None:
            return False
        self._signature = _signature(self.path)
        try:
            rules = load_rules(self.path)
        except RulesError as err:
            self.error = str(err)
            RELOADS.labels("error").inc()
            log.error("rules not reloaded, keeping the previous rules", error=self.error)
            self._notify()
            return False
        self.current, self.loaded_at, self.error = rules, utcnow(), None
        RELOADS.labels("ok").inc()
        log.info("rules reloaded", path=str(self.path), rules=len(rules.rules))
        self._notify()
        return True

    def _notify(self) -> None:
        self._reloaded.set()
        self._reloaded = asyncio.Event()

    async def wait_reloaded(self) -> None:
        """Wait for the next reload attempt (applied or refused)."""
        await self._reloaded.wait()

    def changed(self) -> bool:
        return self.path is not None and _signature(self.path) != self._signature

    async def watch(self, interval_s: float) -> None:
        """Reload whenever the file changes (polling its stat; no extra dependency)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.changed():
                self.reload()

    def install_sighup(self) -> bool:
        """Reload on SIGHUP; False where signals cannot be handled (not the main thread)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return False
        self._loop = loop
        return True

    def remove_sighup(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None

    async def health(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "rules": len(self.current.rules),
            "loaded_at": self.loaded_at.isoformat(),
            "error": self.error,
        }
