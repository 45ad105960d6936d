"""No mail loops: the last guard before an automatic reply leaves (Chatwoot keeps its loop
guard in the send template; so do we). Agent replies always go out; an automatic reply
(`context.automatic`, the router's templates) does not when:

1. the customer's mail was itself automatic (an auto-reply, a bounce, list mail: the
   inbound `context.flag_reasons` travels with the reply),
2. the sender asked for no automatic answers (`X-Auto-Response-Suppress`),
3. the address is a system or no-reply address,
4. the address already got `INBOX_MAIL_AUTO_REPLY_LIMIT` automatic replies from this
   account today (UTC), counted in the store (`mail_auto_replies`), idempotently per reply.

A refused reply is reported failed with the reason; it is never retried.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_core.schema import OutboundReply

AUTO_REPLIES: Final = "mail_auto_replies"
_SYSTEM_ADDRESS: Final = re.compile(
    r"^(?:mailer-daemon|postmaster|mail-daemon|no-?reply|do-?not-?reply|bounces?|noreply-.*)"
    r"(?:[+.].*)?@",
    re.I,
)


def is_automatic(reply: OutboundReply) -> bool:
    return bool(reply.context.get("automatic"))


def refusal(reply: OutboundReply) -> str | None:
    """Why an automatic reply must not go out (rules 1–3), or None."""
    if not is_automatic(reply):
        return None
    reasons = reply.context.get("flag_reasons")
    if reasons:
        return f"automatic reply suppressed: the customer's mail was automatic ({reasons})"
    if reply.context.get("suppress_auto_reply"):
        return "automatic reply suppressed: the sender asked for no automatic replies"
    if _SYSTEM_ADDRESS.match(reply.customer.email or reply.customer.id or ""):
        return "automatic reply suppressed: system or no-reply address"
    return None


async def within_daily_limit(
    db: AsyncDatabase[Any], reply: OutboundReply, limit: int, now: datetime
) -> bool:
    """Rule 4. The reply's id is recorded once, so a redelivered reply keeps its place."""
    address = (reply.customer.email or reply.customer.id or "").lower()
    key = f"{reply.account}:{address}:{now.date().isoformat()}"
    update = {"$addToSet": {"replies": reply.id}, "$setOnInsert": {"day": now.date().isoformat()}}
    # An upsert and a read by _id, not findAndModify (which the embedded store answers by
    # reading the whole collection). Whatever lands in between only appends after ours, so
    # our reply's place in the list is the same.
    try:
        await db[AUTO_REPLIES].update_one({"_id": key}, update, upsert=True)
    except DuplicateKeyError:  # a racing first reply created the document: update it
        await db[AUTO_REPLIES].update_one({"_id": key}, update, upsert=True)
    doc = await db[AUTO_REPLIES].find_one({"_id": key})
    replies = list((doc or {}).get("replies") or [])
    return reply.id in replies[:limit]
