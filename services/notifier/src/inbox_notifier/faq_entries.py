"""FAQ entries in the store, for the agent API: the entries (every write refreshes the
catalog the matcher and the bot answer from) and the questions of recent conversations with
their first agent answer, from which new entries are suggested."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from inbox_core.faq import FAQ, FaqCatalog
from inbox_core.faq_candidates import Asked
from inbox_core.schema import new_id, utcnow
from inbox_core.store import CONVERSATIONS, MESSAGES, Store
from inbox_notifier.canned import check_placeholders
from inbox_notifier.faq_models import FaqIn
from inbox_notifier.routing import not_found

CANDIDATE_CONVERSATIONS: Final = 5000  # the most recent ones of the window
NOT_AGENTS: Final = frozenset({"bot", "router"})  # authors whose answers are not the agents'
CHUNK: Final = 500  # conversation ids per message query


class FaqEntries:
    def __init__(self, store: Store, catalog: FaqCatalog) -> None:
        self.store = store
        self.catalog = catalog

    @property
    def _collection(self) -> Any:
        return self.store.db[FAQ]

    async def all(self) -> list[dict[str, Any]]:
        return [d async for d in self._collection.find({}, sort=[("created_at", 1), ("_id", 1)])]

    async def get(self, faq_id: str) -> dict[str, Any]:
        doc = await self._collection.find_one({"_id": faq_id})
        if doc is None:
            raise not_found("FAQ entry")
        return dict(doc)

    async def create(self, body: FaqIn) -> dict[str, Any]:
        check_placeholders(body.answer, field="answer")
        now = utcnow()
        doc = {"_id": new_id(), **body.model_dump(), "created_at": now, "updated_at": now}
        await self._collection.insert_one(doc)
        await self.catalog.refresh()
        return doc

    async def replace(self, faq_id: str, body: FaqIn) -> dict[str, Any]:
        check_placeholders(body.answer, field="answer")
        doc = await self._collection.find_one_and_update(
            {"_id": faq_id},
            {"$set": {**body.model_dump(), "updated_at": utcnow()}},
            return_document=True,
        )
        if doc is None:
            raise not_found("FAQ entry")
        await self.catalog.refresh()
        return dict(doc)

    async def delete(self, faq_id: str) -> None:
        result = await self._collection.delete_one({"_id": faq_id})
        if result.deleted_count == 0:
            raise not_found("FAQ entry")
        await self.catalog.refresh()

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
