"""Customers as the agent API sees them: one customer with identities and history across
channels, found through the aliases merges leave behind, and the merge itself."""

from __future__ import annotations

from typing import Any, Final

from inbox_core.schema import utcnow
from inbox_core.store import CONVERSATIONS, CUSTOMER_KEYS, CUSTOMERS, MESSAGES, Store
from inbox_notifier.routing import ApiError, not_found

MERGES: Final = "customer_merges"
HISTORY_CONVERSATIONS: Final = 200
HISTORY_MESSAGES: Final = 100


def identity_parts(identity: str) -> dict[str, str]:
    """`channel:account:id` (the id may hold colons itself) as its three parts."""
    channel, _, rest = identity.partition(":")
    account, _, ident = rest.partition(":")
    return {"channel": channel, "account": account, "id": ident}


class Customers:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def db(self) -> Any:
        return self.store.db

    async def resolve(self, customer_id: str) -> dict[str, Any]:
        """The customer, following merge aliases (a merged-away id leads to its target)."""
        seen = set()
        while customer_id not in seen:
            seen.add(customer_id)
            doc = await self.db[CUSTOMERS].find_one({"_id": customer_id})
            if doc is not None:
                return dict(doc)
            alias = await self.db[MERGES].find_one({"_id": customer_id})
            if alias is None:
                break
            customer_id = alias["into"]
        raise not_found(f"customer {customer_id}")

    async def conversations(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's latest conversations, most recent first."""
        return [
            c
            async for c in self.db[CONVERSATIONS].find(
                {"customer_id": customer_id},
                {"search": 0},
                sort=[("last_message_at", -1)],
                limit=HISTORY_CONVERSATIONS,
            )
        ]

    async def history(self, conversation_ids: list[str]) -> list[dict[str, Any]]:
        """The latest customer and agent messages of those conversations, oldest first."""
        latest = [
            m
            async for m in self.db[MESSAGES].find(
                {"conversation_id": {"$in": conversation_ids}, "kind": "message"},
                sort=[("created_at", -1)],
                limit=HISTORY_MESSAGES,
            )
        ]
        return list(reversed(latest))

    async def merged_from(self, customer_id: str) -> list[str]:
        return [m["_id"] async for m in self.db[MERGES].find({"into": customer_id})]

    async def merge(self, target_id: str, other_id: str) -> str:
        """Merge `other_id` into `target_id` (both resolved through aliases); the target's id."""
        target = await self.resolve(target_id)
        other = await self.resolve(other_id)
        if target["_id"] == other["_id"]:
            raise ApiError(409, "same_customer", "a customer cannot be merged into itself")
        db = self.db
        # The router finds customers by their keys: point the other's keys here first, so its
        # next message joins this customer even if the merge stops half-way.
        await db[CUSTOMER_KEYS].update_many(
            {"customer_id": other["_id"]}, {"$set": {"customer_id": target["_id"]}}
        )
        # Delete first: identities are unique, so they can only move once the other is gone.
        await db[CUSTOMERS].delete_one({"_id": other["_id"]})
        await db[MERGES].update_one(
            {"_id": other["_id"]}, {"$set": {"into": target["_id"], "at": utcnow()}}, upsert=True
        )
        await db[CUSTOMERS].update_one(
            {"_id": target["_id"]},
            {
                "$addToSet": {
                    "identities": {"$each": other.get("identities", [])},
                    "emails": {"$each": other.get("emails", [])},
                    "phones": {"$each": other.get("phones", [])},
                },
                "$set": {"updated_at": utcnow()},
            },
        )
        await db[CONVERSATIONS].update_many(
            {"customer_id": other["_id"]}, {"$set": {"customer_id": target["_id"]}}
        )
        return str(target["_id"])
