"""Commands the router carries out for other services on its own collections (one writer
per collection): `inbox.cmd.threads.move` repoints thread keys after an agent merged or
split conversations, so the customer's next message lands where the agent put the thread."""

from __future__ import annotations

from typing import Any

from nats.aio.msg import Msg
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.commands import ThreadMove
from inbox_core.logging import get_logger
from inbox_core.store import THREADS

log = get_logger(__name__)


async def move_threads(db: AsyncDatabase[dict[str, Any]], move: ThreadMove) -> int:
    """Point the keys that lead to `from` at `to` (a compare-and-set per key: a key another
    message has since claimed elsewhere stays there). Returns how many moved."""
    filter_: dict[str, Any] = {"conversation_id": move.from_conversation_id}
    if move.keys is not None:
        filter_["_id"] = {"$in": move.keys}
    result = await db[THREADS].update_many(
        filter_,
        {
            "$set": {
                "conversation_id": move.to_conversation_id,
                "previous_conversation_id": move.from_conversation_id,
                "moved_by": f"{move.reason}:{move.id}",
            }
        },
    )
    log.info("thread keys moved", reason=move.reason, count=result.modified_count)
    return result.modified_count


def command_handler(db: AsyncDatabase[dict[str, Any]]) -> Any:
    async def handle(msg: Msg) -> None:
        await move_threads(db, ThreadMove.from_json(msg.data))

    return handle
