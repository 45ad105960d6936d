"""Canned responses in the store: texts with placeholders that agents reuse. Placeholders
are checked on write, so a saved text only names ones the renderer knows."""

from __future__ import annotations

from typing import Any

from inbox_core.placeholders import unknown_placeholders
from inbox_core.schema import new_id, utcnow
from inbox_core.store import Store
from inbox_notifier.models import CannedIn
from inbox_notifier.queue import CANNED
from inbox_notifier.routing import ApiError, not_found


def check_placeholders(text: str, field: str = "text") -> None:
    """422 naming every placeholder the renderer does not know."""
    unknown = unknown_placeholders(text)
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            "unknown placeholders",
            [{"field": field, "message": f"unknown placeholder {{{{{n}}}}}"} for n in unknown],
        )


class CannedResponses:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _collection(self) -> Any:
        return self.store.db[CANNED]

    async def all(self) -> list[dict[str, Any]]:
        return [d async for d in self._collection.find(sort=[("title", 1)])]

    async def get(self, canned_id: str) -> dict[str, Any]:
        doc = await self._collection.find_one({"_id": canned_id})
        if doc is None:
            raise not_found("canned response")
        return dict(doc)

    async def create(self, body: CannedIn) -> dict[str, Any]:
        check_placeholders(body.text)
        now = utcnow()
        doc = {"_id": new_id(), **body.model_dump(), "created_at": now, "updated_at": now}
        await self._collection.insert_one(doc)
        return doc

    async def replace(self, canned_id: str, body: CannedIn) -> dict[str, Any]:
        check_placeholders(body.text)
        doc = await self._collection.find_one_and_update(
            {"_id": canned_id},
            {"$set": {**body.model_dump(), "updated_at": utcnow()}},
            return_document=True,
        )
        if doc is None:
            raise not_found("canned response")
        return dict(doc)

    async def delete(self, canned_id: str) -> None:
        result = await self._collection.delete_one({"_id": canned_id})
        if result.deleted_count == 0:
            raise not_found("canned response")
