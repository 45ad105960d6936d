"""Routing corrections: an agent's team change or category tag is a labelled example.

One writer per collection: the notifier owns `routing_corrections` (one document per
conversation, the latest correction wins, so a conversation moved back and forth counts once);
the router only reads it when it retrains. Which categories a team or a tag stands for comes
from the router's rules: the router publishes that table in `routing_state` (router-owned),
and the notifier falls back to the shipped rules' table when no router wrote one yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING

from inbox_core.store import MESSAGES, ROUTING_CORRECTIONS, ROUTING_STATE

CATEGORY_TABLE_ID: Final = "categories"

# The shipped rules' table (default_rules.yaml), used until a router has written its own.
DEFAULT_TABLE: Final[dict[str, Any]] = {
    "categories": [
        "shipping",
        "refund_return_exchange",
        "restock",
        "product",
        "defect_missing_wrong",
        "identity",
        "app",
        "general",
    ],
    "teams": {
        "claims": ["defect_missing_wrong"],
        "returns": ["refund_return_exchange"],
        "account": ["identity"],
        "product": ["product", "restock"],
        "shipping": ["shipping"],
        "app": ["app"],
        "general": ["general"],
    },
    "tags": {
        "불량·누락·오배송": "defect_missing_wrong",
        "환불·반품·교환": "refund_return_exchange",
        "본인인증": "identity",
        "재입고": "restock",
        "배송": "shipping",
        "앱": "app",
        "상품문의": "product",
    },
}


class CategoryTable:
    """Which categories a team handles and which tag names a category."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        doc = doc or DEFAULT_TABLE
        self.categories: list[str] = list(doc.get("categories") or [])
        self.teams: dict[str, list[str]] = dict(doc.get("teams") or {})
        self.tags: dict[str, str] = dict(doc.get("tags") or {})

    def for_team(self, team: str, current: str) -> str | None:
        """The category a move to `team` implies: the current one when the team handles it,
        else the category named like the team, else the team's first; None for a team no
        rule names."""
        handled = self.teams.get(team) or []
        if current in handled:
            return current
        if team in handled:  # the product team's own category is product, not restock
            return team
        return handled[0] if handled else None

    def for_tags(self, tags: list[str]) -> str | None:
        """The category the last category tag (or category name) among `tags` names."""
        found = None
        for tag in tags:
            if tag in self.tags:
                found = self.tags[tag]
            elif tag in self.categories:
                found = tag
        return found


async def category_table(db: Any) -> CategoryTable:
    return CategoryTable(await db[ROUTING_STATE].find_one({"_id": CATEGORY_TABLE_ID}))


async def record_correction(
    db: Any,
    conv: dict[str, Any],
    *,
    kind: str,
    agent: str,
    at: datetime,
    to_team: str | None,
    to_category: str | None,
) -> None:
    """Keep the conversation's first customer message with the label an agent gave it."""
    first = await db[MESSAGES].find_one(
        {"conversation_id": conv["_id"], "direction": "in", "kind": "message"},
        sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
    )
    if first is None:
        return  # nothing the customer wrote: nothing to learn from
    await db[ROUTING_CORRECTIONS].update_one(
        {"_id": conv["_id"]},
        {
            "$set": {
                "kind": kind,
                "agent": agent,
                "at": at,
                "channel": conv.get("channel"),
                "account": conv.get("account"),
                "subject": first.get("subject") or conv.get("subject"),
                "text": first.get("text") or "",
                "context": first.get("context") or {},
                "to_team": to_team,
                "to_category": to_category,
            },
            "$setOnInsert": {
                "from_team": conv.get("team"),
                "from_category": conv.get("category") or "general",
            },
        },
        upsert=True,
    )


async def counts_by_category(db: Any) -> dict[str, int]:
    """Corrections per category agents moved conversations to."""
    counts: dict[str, int] = {}
    # Corrections are few (one per corrected conversation): counted here, not aggregated.
    async for doc in db[ROUTING_CORRECTIONS].find({}, {"to_category": 1}):
        key = str(doc.get("to_category") or "unknown")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
