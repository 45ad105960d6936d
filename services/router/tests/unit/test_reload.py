"""Reloading the rules file: on change and on SIGHUP; a bad file keeps the previous rules."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from inbox_core.schema import Customer, InboundMessage
from inbox_router.app import create_app
from inbox_router.reload import RuleSource
from inbox_router.rules import RulesError
from inbox_router.settings import RouterSettings

RULES = (
    "rules:\n  - name: shipping\n    when: {{keywords: {{any: [배송]}}}}\n"
    "    set: {{team: {team}}}\n"
)
MESSAGE = InboundMessage(
    channel="mail", account="shop", external_id="1", thread_keys=["k"],
    customer=Customer(id="c"), text="배송 문의",
)  # fmt: skip


def _write(path: Path, team: str) -> None:
    # A new inode and size each time, as an editor's save-and-rename gives.
    _write_text(path, RULES.format(team=team))


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _team(source: RuleSource) -> str:
    return source.current.decide(MESSAGE).team


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    _write(path, "first")
    return path


async def test_rules_reload_when_the_file_changes(rules_file: Path) -> None:
    source = RuleSource(rules_file)
    assert source.current.decide(MESSAGE).team == "first"
    watcher = asyncio.create_task(source.watch(0.01))
    try:
        _write(rules_file, "second-team")
        await asyncio.wait_for(source.wait_reloaded(), timeout=10)
        assert _team(source) == "second-team"
    finally:
        watcher.cancel()
        await asyncio.wait_for(asyncio.gather(watcher, return_exceptions=True), timeout=5)
    assert source.error is None


async def test_bad_new_file_keeps_the_previous_rules_and_reports_why(rules_file: Path) -> None:
    source = RuleSource(rules_file)
    before = source.current
    _write_text(rules_file, "rules:\n  - name: shipping\n    set: {priority: asap}\n")
    assert source.reload() is False
    assert source.current is before
    assert source.current.decide(MESSAGE).team == "first"
    health = await asyncio.wait_for(source.health(), timeout=5)
    assert "rule 'shipping' field set.priority" in str(health["error"])
    _write(rules_file, "fixed")
    assert source.reload() is True
    assert source.current.decide(MESSAGE).team == "fixed"
    assert (await asyncio.wait_for(source.health(), timeout=5))["error"] is None


async def test_watch_does_not_retry_an_unchanged_bad_file(rules_file: Path) -> None:
    source = RuleSource(rules_file)
    _write_text(rules_file, "rules: [")
    assert source.changed()
    assert source.reload() is False
    assert not source.changed()  # logged once, not every poll


@pytest.fixture
def sighup_ignored() -> Iterator[None]:
    """If the router failed to install its handler, a stray SIGHUP must not kill pytest."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.usefixtures("sighup_ignored")
async def test_sighup_reloads_the_rules(rules_file: Path) -> None:
    source = RuleSource(rules_file)
    assert source.install_sighup()
    try:
        _write(rules_file, "after-sighup")
        assert source.current.decide(MESSAGE).team == "first"  # no watcher: waits for the signal
        reloaded = asyncio.ensure_future(source.wait_reloaded())
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded, timeout=10)
        assert _team(source) == "after-sighup"
    finally:
        source.remove_sighup()


def test_service_refuses_to_start_with_a_bad_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: x\n    set: {team: ''}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rule 'x' field set\.team"):
        create_app(RouterSettings(INBOX_ROUTER_RULES=str(path)))
