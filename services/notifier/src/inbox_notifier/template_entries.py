"""Entries admins write whose text has placeholders (canned responses, FAQ answers): read,
create, replace and delete one collection, with the placeholders checked on every write so
a saved text only names ones the renderer knows."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from inbox_core.placeholders import unknown_placeholders
from inbox_core.schema import new_id, utcnow
from inbox_core.store import Store
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


class TemplateEntries:
    """One collection of such entries. A subclass names the collection, what one entry is
    called in a 404, the field that holds the text and the order of `all()`."""

    collection: ClassVar[str]
    noun: ClassVar[str]
    text_field: ClassVar[str]
    order: ClassVar[list[tuple[str, int]]]

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _collection(self) -> Any:
        return self.store.db[self.collection]

    async def changed(self) -> None:
        """Called after every write (e.g. to refresh what reads the entries from memory)."""

    def _check(self, body: BaseModel) -> None:
        check_placeholders(getattr(body, self.text_field), field=self.text_field)

    async def all(self) -> list[dict[str, Any]]:
        return [d async for d in self._collection.find({}, sort=self.order)]

    async def get(self, entry_id: str) -> dict[str, Any]:
        doc = await self._collection.find_one({"_id": entry_id})
        if doc is None:
            raise not_found(self.noun)
        return dict(doc)

    async def create(self, body: BaseModel) -> dict[str, Any]:
        self._check(body)
        now = utcnow()
        doc = {"_id": new_id(), **body.model_dump(), "created_at": now, "updated_at": now}
        await self._collection.insert_one(doc)
        await self.changed()
        return doc

    async def replace(self, entry_id: str, body: BaseModel) -> dict[str, Any]:
        self._check(body)
        doc = await self._collection.find_one_and_update(
            {"_id": entry_id},
            {"$set": {**body.model_dump(), "updated_at": utcnow()}},
            return_document=True,
        )
        if doc is None:
            raise not_found(self.noun)
        await self.changed()
        return dict(doc)

    async def delete(self, entry_id: str) -> None:
        result = await self._collection.delete_one({"_id": entry_id})
        if result.deleted_count == 0:
            raise not_found(self.noun)
        await self.changed()
