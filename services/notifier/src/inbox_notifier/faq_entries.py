"""FAQ entries in the store, for the agent API: the entries (every write refreshes the
catalog the matcher and the bot answer from) and the questions of recent conversations with
their first agent answer, from which new entries are suggested."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from inbox_core.faq import FAQ, FaqCatalog
from inbox_core.faq_candidates import Asked
from inbox_core.store import CONVERSATIONS, MESSAGES, Store
from inbox_notifier.template_entries import TemplateEntries

CANDIDATE_CONVERSATIONS: Final = 5000  # the most recent ones of the window
NOT_AGENTS: Final = frozenset({"bot", "router"})  # authors whose answers are not the agents'
CHUNK: Final = 500  # conversation ids per message query


class FaqEntries(TemplateEntries):
    collection = FAQ
    noun = "FAQ entry"
    text_field = "answer"
    order: ClassVar[list[tuple[str, int]]] = [("created_at", 1), ("_id", 1)]

    def __init__(self, store: Store, catalog: FaqCatalog) -> None:
        super().__init__(store)
        self.catalog = catalog

    async def changed(self) -> None:
        await self.catalog.refresh()  # the matcher and the bot answer from the catalog

    async def asked_since(self, since: datetime) -> list[Asked]:
        """The first customer question of each conversation created since then (the most
        recent CANDIDATE_CONVERSATIONS) and the first answer an agent gave it."""
        db = self.store.db
        # Indexed: conversations by created_at, their messages by conversation_id.
        conv_ids = [
            c["_id"]
            async for c in db[CONVERSATIONS].find(
                {"created_at": {"$gte": since}},
                {"_id": 1},
                sort=[("created_at", -1)],
                limit=CANDIDATE_CONVERSATIONS,
            )
        ]
        first_in: dict[str, dict[str, Any]] = {}
        first_out: dict[str, str] = {}
        for start in range(0, len(conv_ids), CHUNK):
            async for m in db[MESSAGES].find(
                {"conversation_id": {"$in": conv_ids[start : start + CHUNK]}, "kind": "message"},
                {"conversation_id": 1, "direction": 1, "author": 1, "text": 1, "created_at": 1},
                sort=[("conversation_id", 1), ("created_at", 1)],
            ):
                cid = m["conversation_id"]
                if m.get("direction") == "in":
                    first_in.setdefault(cid, m)
                elif m.get("author") not in NOT_AGENTS and (m.get("text") or "").strip():
                    first_out.setdefault(cid, m["text"])
        return [
            Asked(cid, m.get("text") or "", first_out.get(cid), m.get("created_at"))
            for cid, m in first_in.items()
        ]
