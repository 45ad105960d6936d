"""Which replies we sent recently, so their echoes can be dropped (the TalkTalk loop guard).

Naver TalkTalk echoes every message sent to a user, ours included, and the echo carries no
marker of its sender (shared/channels/naver-talktalk.md §3). Before each send we note a key
of (account, user, text) in the store; an echo whose key is found consumes one note and is
dropped, any other echo (an agent typing in the partner center) is kept. Notes live in the
store, so the replica that sends need not be the one that receives the echo, and they
expire after ten minutes (TTL index).

A store failure never blocks a reply or a webhook: the reply is sent anyway and the echo is
kept (at worst our own reply appears twice, which is better than losing one).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from inbox_core.logging import get_logger
from inbox_core.schema import utcnow

log = get_logger(__name__)

COLLECTION: Final = "social_sent_echoes"
TTL: Final = timedelta(minutes=10)
STORE_TIMEOUT_S: Final = 1.0
INDEXES: Final = {
    COLLECTION: [IndexModel("key"), IndexModel("expires_at", expireAfterSeconds=0)],
}


def sent_key(channel: str, account: str, user: str, text: str) -> str:
    return hashlib.sha256(f"{channel}\x1f{account}\x1f{user}\x1f{text}".encode()).hexdigest()


class EchoLedger:
    def __init__(
        self,
        db: Callable[[], AsyncDatabase[dict[str, Any]]],
        *,
        clock: Callable[[], datetime] = utcnow,
        timeout_s: float = STORE_TIMEOUT_S,
    ) -> None:
        self._db = db
        self._clock = clock
        self._timeout_s = timeout_s

    async def remember(self, reply_id: str, key: str) -> None:
        """Note a reply about to be sent (one note per reply, retries included)."""
        try:
            await asyncio.wait_for(
                self._db()[COLLECTION].update_one(
                    {"_id": reply_id},
                    {"$set": {"key": key, "expires_at": self._clock() + TTL}},
                    upsert=True,
                ),
                self._timeout_s,
            )
        except (TimeoutError, PyMongoError) as err:
            log.warning("could not note a sent reply; its echo will be kept", error=repr(err))

    async def consume(self, key: str) -> bool:
        """True when an unexpired note had this key (it is then used up)."""
        # A read on the key's index and a delete by _id, not find_one_and_delete (which the
        # embedded store answers by reading the whole collection); the delete is the claim,
        # so of two racing echoes one uses the note up.
        collection = self._db()[COLLECTION]
        try:
            async with asyncio.timeout(self._timeout_s):
                async for doc in collection.find({"key": key}, {"expires_at": 1}):
                    if doc.get("expires_at") is None or doc["expires_at"] <= self._clock():
                        continue
                    deleted = await collection.delete_one({"_id": doc["_id"], "key": key})
                    if deleted.deleted_count:
                        return True
        except (TimeoutError, PyMongoError) as err:
            log.warning("could not check an echo; it is kept", error=repr(err))
        return False
