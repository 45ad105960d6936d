"""Reads behind the conversation routes: the queue page (filters and cursor from the query
string) and a conversation's messages and linked conversations."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from inbox_core.store import CONVERSATIONS, MESSAGES, Store
from inbox_notifier.models import ConversationQuery
from inbox_notifier.queue_page import PageFilter, QueuePage, sort_key
from inbox_notifier.routing import ApiError

FILTERS = ("status", "team", "channel", "account", "assignee", "priority")


def encode_cursor(due: datetime, conv_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([due.isoformat(), conv_id])).decode()


def decode_cursor(raw: str) -> tuple[datetime, str]:
    try:
        due, conv_id = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        at = datetime.fromisoformat(due)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)), str(conv_id)
    except (ValueError, TypeError) as err:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out") from err


def _values(raw: str | None) -> list[str]:
    return [v.strip() for v in (raw or "").split(",") if v.strip()]


def page_filter(query: ConversationQuery) -> PageFilter:
    """The queue page's filter from the query string: comma-separated values per field,
    `assignee=none` for the unassigned, a tag and a search text."""
    values: dict[str, list[str | None]] = {}
    for name in FILTERS:
        given: list[str | None] = list(_values(getattr(query, name)))
        if name == "assignee":  # ?assignee=none lists the unassigned
            given = [None if v == "none" else v for v in given]
        if given:
            values[name] = given
    return PageFilter(values, query.tag or None, (query.q or "").strip() or None)


class ConversationReads:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def page(self, query: ConversationQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the queue, sorted by SLA due, and the cursor of the next (or None)."""
        after = decode_cursor(query.cursor) if query.cursor else None
        found = QueuePage(self.store.db[CONVERSATIONS], page_filter(query))
        docs = await found.read(after, query.limit + 1)
        if len(docs) <= query.limit:
            return docs, None
        docs = docs[: query.limit]
        return docs, encode_cursor(*sort_key(docs[-1]))

    async def messages(self, conv_id: str) -> list[dict[str, Any]]:
        return [
            m
            async for m in self.store.db[MESSAGES].find(
                {"conversation_id": conv_id}, sort=[("created_at", 1), ("_id", 1)]
            )
        ]

    async def linked(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The predecessor and the successors, in two indexed queries: the embedded store
        would answer one `$or` by reading every conversation."""
        predecessor = doc.get("linked_conversation_id")
        queries: list[dict[str, Any]] = [{"linked_conversation_id": doc["_id"]}]
        if predecessor:
            queries.insert(0, {"_id": predecessor})
        return [
            c
            for query in queries
            async for c in self.store.db[CONVERSATIONS].find(query, {"search": 0})
        ]
