"""A board's cursor: the core's time-window cursor (`inbox_core.window_cursor`) keeping a
`Known` fingerprint per question. An older Naver cursor (`seen` instead of `known`) is
adopted: its questions count as known, with their text unknown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from inbox_core.window_cursor import WindowCursor
from inbox_ingest_marketplace.channels.question_changes import Known


class BoardCursor(WindowCursor[Known]):
    item_type = Known

    @classmethod
    def load_known(cls, state: Mapping[str, Any]) -> dict[str, Known]:
        if "known" in state:
            return super().load_known(state)
        # An older cursor: ids seen near the edge, with their createDate.
        return {
            str(k): Known(created=int(datetime.fromisoformat(str(v)).timestamp()), text="")
            for k, v in dict(state.get("seen") or {}).items()
        }
