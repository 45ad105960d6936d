"""Suggested answers for a conversation: the FAQ entries its latest customer message matches
(at most 3, best first), each rendered for this conversation, for the agent to send."""

from __future__ import annotations

from typing import Any

from inbox_core.faq import FaqSnapshot
from inbox_core.placeholders import render_reply, values_for


def suggestions(
    snapshot: FaqSnapshot, conv: dict[str, Any], messages: list[dict[str, Any]], agent: str
) -> list[dict[str, Any]]:
    latest = next(
        (
            m
            for m in reversed(messages)
            if m.get("direction") == "in" and m.get("kind", "message") == "message"
        ),
        None,
    )
    if latest is None or not (latest.get("text") or "").strip():
        return []
    result = snapshot.match(latest["text"], None)
    values = values_for(conv, latest.get("context") or {}, agent)
    return [
        {"faq_id": m.entry.id, "score": m.score, "answer": render_reply(m.entry.answer, values)[0]}
        for m in result.matches
    ]
