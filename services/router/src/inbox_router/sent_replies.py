"""Our sent mail replies become thread keys: the router reads the connectors' delivery
reports (stream ROUTED, `inbox.delivery.mail.*`) and claims `mail:<Message-ID>` of each sent
reply for its conversation, so the customer's answer to it, or a bounce of it, joins that
conversation even when it quotes nothing else. The router owns `threads`: the notifier,
which applies the same reports to its messages, leaves the keys to it."""

from __future__ import annotations

import contextlib
from typing import Any

from nats.aio.msg import Msg
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_core.errors import PermanentError
from inbox_core.schema import SCHEMA_VERSION, DeliveryReport, DeliveryStatus, utcnow
from inbox_core.store import THREADS

MAIL = "mail"


async def claim_reply_key(db: AsyncDatabase[dict[str, Any]], report: DeliveryReport) -> bool:
    """Map the sent reply's Message-ID to its conversation unless the key is mapped already
    (a redelivered report, a key claimed first by a message). True when it claimed it."""
    if report.channel != MAIL or report.status != DeliveryStatus.SENT or not report.external_id:
        return False
    # An insert, not an upsert: the same claim for about half the store's work; a duplicate
    # key means the key was mapped already (a redelivered report, a racing claim).
    with contextlib.suppress(DuplicateKeyError):
        await db[THREADS].insert_one(
            {
                "_id": f"mail:{report.external_id.strip('<>')}",
                "conversation_id": report.conversation_id,
                "created_by": f"reply:{report.reply_id}",
                "created_at": utcnow(),
            }
        )
        return True
    return False


def delivery_handler(db: AsyncDatabase[dict[str, Any]]) -> Any:
    async def handle(msg: Msg) -> None:
        report = DeliveryReport.from_json(msg.data)
        if report.schema_version > SCHEMA_VERSION:
            raise PermanentError(f"schema_version {report.schema_version} is newer than ours")
        await claim_reply_key(db, report)

    return handle
