"""The one fixture format of every channel: raw/expected pairs (Zammad's `mailNNN.box` +
`.yml`), read by the conformance suite and by a channel's own tests.

`tests/fixtures/<channel>/<case>.<ext>` holds the bytes exactly as the platform sends them;
`<case>.expected.json` says what they normalise to (see `load_fixtures`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from inbox_core.connector import RawRequest
from inbox_core.schema import InboundMessage

EXPECTED_SUFFIX: Final = ".expected.json"
RAW_SUFFIXES: Final = (".json", ".eml", ".xml", ".txt", ".bin")
DEFAULT_RECEIVED_AT: Final = datetime(2025, 11, 20, 6, 30, tzinfo=UTC)
# Never compared: `id` is a fresh uuid per normalise, by design.
UNCOMPARED: Final = frozenset({"id"})


@dataclass(frozen=True)
class Fixture:
    """One raw/expected pair: `<case>.<ext>` holds the bytes exactly as the platform sends
    them (a webhook body, an .eml, one item or page of a list API); `<case>.expected.json`
    says what they normalise to."""

    case: str
    raw: bytes
    expected: Mapping[str, Any]

    @property
    def description(self) -> str:
        return str(self.expected.get("description", ""))

    @property
    def refused(self) -> bool:
        """True when `normalise` must raise InvalidPayload on this input."""
        return bool(self.expected.get("refused", False))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.expected.get("messages", []))

    @property
    def request(self) -> Mapping[str, Any]:
        """How the raw arrived: `headers`, `query`, `path`, `received_at`, `account`."""
        return self.expected.get("request", {})

    @property
    def received_at(self) -> datetime:
        value = self.request.get("received_at")
        return DEFAULT_RECEIVED_AT if value is None else datetime.fromisoformat(value)

    def account(self, default: str) -> str:
        return str(self.request.get("account", default))


def load_fixtures(folder: Path) -> list[Fixture]:
    """Every pair in `folder`, sorted by case name.

    `<case>.expected.json` is an object:

        {"description": "what this case shows (one line)",
         "request": {"headers": {}, "query": {}, "path": "...", "account": "...",
                     "received_at": "2025-11-20T06:30:00+00:00"},      # all optional
         "messages": [{"external_id": "...", "thread_keys": [...], "text": "...", ...}],
         "refused": false}

    Each message lists the fields it pins, valued as `InboundMessage.model_dump(mode="json")`
    gives them; a listed field must be equal (times compare as instants), an unlisted one is
    not compared. `"refused": true` (and no messages) means normalise raises InvalidPayload.
    Other top-level keys are free for the channel's own tests (e.g. a marketplace question's
    `answers`). A raw without its expected file, or the reverse, is an error: nothing is
    skipped quietly.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"no fixtures folder {folder}")
    expected = {p.name.removesuffix(EXPECTED_SUFFIX): p for p in folder.glob("*" + EXPECTED_SUFFIX)}
    raws: dict[str, Path] = {}
    for path in folder.iterdir():
        if path.name.endswith(EXPECTED_SUFFIX) or path.suffix not in RAW_SUFFIXES:
            continue
        if path.stem in raws:
            raise ValueError(f"{folder}: two raw files for case {path.stem!r}")
        raws[path.stem] = path
    if unpaired := sorted(set(raws) ^ set(expected)):
        raise ValueError(f"{folder}: cases without their pair: {unpaired}")
    fixtures = []
    for case in sorted(raws):
        data = json.loads(expected[case].read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "description" not in data:
            raise ValueError(f"{expected[case]}: an object with a 'description' is required")
        if data.get("refused") and data.get("messages"):
            raise ValueError(f"{expected[case]}: 'refused' and 'messages' exclude each other")
        fixtures.append(Fixture(case, raws[case].read_bytes(), data))
    return fixtures


def message_mismatches(message: InboundMessage, expected: Mapping[str, Any]) -> list[str]:
    """What differs between `message` and the fields an expected message pins."""
    got = message.model_dump(mode="json")
    problems = []
    for key, want in expected.items():
        if key in UNCOMPARED:
            problems.append(f"{key!r} is random by design and cannot be pinned")
        elif key not in got:
            problems.append(f"{key!r} is not a field of InboundMessage")
        elif key == "received_at":
            if datetime.fromisoformat(got[key]) != datetime.fromisoformat(want):
                problems.append(f"received_at: {got[key]} != {want}")
        elif got[key] != want:
            problems.append(f"{key}: got {got[key]!r}, expected {want!r}")
    return problems


def message_view(message: InboundMessage, fields: Sequence[str]) -> dict[str, Any]:
    """`fields` of `message` as an expected file holds them (for writing new fixtures)."""
    got = message.model_dump(mode="json")
    return {key: got[key] for key in fields}


def webhook_request(
    fixture: Fixture, *, path: str = "/webhook", headers: Mapping[str, str] | None = None
) -> RawRequest:
    """The RawRequest the SDK would build from this fixture's webhook call."""
    request = fixture.request
    all_headers = {**request.get("headers", {}), **(headers or {})}
    return RawRequest(
        method="POST",
        path=str(request.get("path", path)),
        headers=CIMultiDictProxy(CIMultiDict(all_headers)),
        query=MultiDictProxy(MultiDict(request.get("query", {}))),
        body=fixture.raw,
        received_at=fixture.received_at,
    )
