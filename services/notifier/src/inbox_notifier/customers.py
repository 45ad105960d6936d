"""Customers as the agent API sees them: one customer with identities and history across
channels, found through the aliases merges leave behind, and the merge itself.

The router owns customers, their keys and the merge aliases (it links a customer's channels
as messages arrive), so a merge is a `CustomerMerge` command to it, and the notifier waits
for its word: when the API answers, the other customer's keys lead to the merged one, so its
next message, on any channel, joins the merged customer. The notifier moves its own part,
the conversations' `customer_id`. The command is durable: when the router does not answer
in time the merge still happens once it is back (the API says so); merging again is safe.
"""

from __future__ import annotations

from typing import Any, Final

from inbox_core import subjects
from inbox_core.bus import Bus
from inbox_core.commands import CustomerMerge, send_and_wait
from inbox_core.errors import BusUnavailable
from inbox_core.store import CONVERSATIONS, CUSTOMER_MERGES, CUSTOMERS, MESSAGES, Store
from inbox_notifier.routing import ApiError, not_found

MERGES: Final = CUSTOMER_MERGES  # read only: the router writes them
ROUTER_WAIT_S: Final = 10.0  # the router needs a few store round trips
HISTORY_CONVERSATIONS: Final = 200
HISTORY_MESSAGES: Final = 100


def identity_parts(identity: str) -> dict[str, str]:
    """`channel:account:id` (the id may hold colons itself) as its three parts."""
    channel, _, rest = identity.partition(":")
    account, _, ident = rest.partition(":")
    return {"channel": channel, "account": account, "id": ident}


class Customers:
    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus

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

    async def merge(self, target_id: str, other_id: str, agent: str) -> str:
        """Merge `other_id` into `target_id` (both resolved through aliases); the target's id."""
        target = await self.resolve(target_id)
        other = await self.resolve(other_id)
        if target["_id"] == other["_id"]:
            raise ApiError(409, "same_customer", "a customer cannot be merged into itself")
        merge = CustomerMerge(from_customer_id=other["_id"], to_customer_id=target["_id"], by=agent)
        try:
            done = await send_and_wait(
                self.bus, subjects.CUSTOMER_MERGES, merge, timeout=ROUTER_WAIT_S
            )
        except BusUnavailable as err:
            raise ApiError(503, "bus_unavailable", "nothing was merged; try again") from err
        # After the router moved the keys (or took the command): a message routed meanwhile
        # with the other's id moves too.
        await self.db[CONVERSATIONS].update_many(
            {"customer_id": other["_id"]}, {"$set": {"customer_id": target["_id"]}}
        )
        if not done:
            raise ApiError(
                503,
                "router_unavailable",
                "the merge waits for the router, which has not carried it out yet; it will "
                "when it is back (merging again is safe)",
            )
        return str(target["_id"])
