"""The FAQ bot's answer in the queue: the router decided it (`decision.bot_answer`); here it
becomes a message by author `bot` (direction out), the conversation is resolved and tagged
`bot_answered`, and the reply goes to the connector unless the connector already gave it
(the Kakao skill response).

The bot's answer is not an agent's response: the SLA's `first_response_at` stays unset, so
when the customer writes again the conversation reopens with the first-response clock of a
new question (Queue._reopen_fields) and reports never count the bot as an agent's reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from inbox_core import sla as sla_clock
from inbox_core.errors import TransientError
from inbox_core.guarded_update import applied
from inbox_core.schema import (
    ConversationStatus,
    DeliveryStatus,
    Event,
    OutboundReply,
    RoutedMessage,
    utcnow,
)
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_notifier.queue import (
    WRITE_TRIES,
    Change,
    Queue,
    conversation_view,
    insert_new,
    message_view,
    stable_id,
    together,
)

BOT: Final = "bot"
BOT_TAG: Final = "bot_answered"


async def apply_bot_answer(
    queue: Queue, routed: RoutedMessage, counts: list[Change] | None = None
) -> tuple[list[Event], list[OutboundReply]]:
    """Store the bot's answer once per customer message; events and the reply to send.
    `counts`: as in `Queue.apply_routed`, the report-counter change is left to the caller."""
    answer = routed.decision.bot_answer
    if answer is None:
        return [], []
    m, db = routed.message, queue.hot  # the consumer's batched store
    conv_id = routed.conversation_id
    reply_id = stable_id("bot", m.dedup_id)
    delivery = (
        {"status": DeliveryStatus.SENT.value, "at": utcnow(), "via": "skill response"}
        if answer.delivered
        else {"status": DeliveryStatus.QUEUED.value}
    )
    doc: dict[str, Any] = {
        "_id": reply_id,
        "dedup_id": f"bot:{m.dedup_id}",
        "reply_id": reply_id,
        "conversation_id": conv_id,
        "channel": m.channel,
        "account": m.account,
        "direction": "out",
        "kind": "message",
        "author": BOT,
        "text": answer.text,
        "context": {"faq_id": answer.faq_id, "score": answer.score},
        "delivery": delivery,
        # Just after the question (and after a router note or auto-reply), in order.
        "created_at": m.received_at + timedelta(milliseconds=5),
        "stored_at": utcnow(),
    }
    # One round: the answer (an insert: its _id and dedup_id both refuse a second copy)
    # and the conversation, each gathered with the batch's; then the conversation's write.
    inserted, conv = await together(
        insert_new(db[MESSAGES], doc), db[CONVERSATIONS].find_one({"_id": conv_id})
    )
    stored = doc if inserted else await db[MESSAGES].find_one({"dedup_id": doc["dedup_id"]})
    if conv is None or stored is None:
        return [], []
    if not inserted and not _unfinished(conv, stored, m.received_at):
        return [], []  # a redelivery of an answer fully applied before
    before, conv = await _resolve(queue, conv, answer.text, answer.resolve, inserted)
    changes: list[Change] = [(before, conv)]  # resolved by the bot: reports count it once
    if counts is None:
        await queue.count_changes(changes)
    else:
        counts.extend(changes)
    view = conversation_view(conv)
    events = [
        Event(
            id=f"conversation.updated:{reply_id}",
            type="conversation.updated",
            conversation_id=conv_id,
            conversation=view,
        ),
        Event(
            id=f"message.created:{reply_id}",
            type="message.created",
            conversation_id=conv_id,
            conversation=view,
            message=message_view(stored),
        ),
    ]
    replies = []
    if (
        not answer.delivered
        and (stored.get("delivery") or {}).get("status") == DeliveryStatus.QUEUED
    ):
        replies.append(
            OutboundReply(
                id=reply_id,
                conversation_id=conv_id,
                channel=m.channel,
                account=m.account,
                customer=m.customer,
                thread_keys=m.thread_keys,
                in_reply_to=m.external_id,
                subject=conv.get("subject"),
                text=answer.text,
                agent=BOT,
                context={
                    **m.context,
                    "conversation_number": conv.get("number"),
                    "last_customer_message_at": m.received_at.isoformat(),
                    "automatic": True,
                },
            )
        )
    # Part of the consumer's message: redelivered until its events are published.
    return await queue.save_events(events, source_redelivers=True), replies


async def _resolve(
    queue: Queue, conv: dict[str, Any], text: str, resolve: bool, inserted: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer applied to its conversation as read, guarded by its version (another
    writer in between: read again and redo); (before, after) the write."""
    db = queue.hot
    for _ in range(WRITE_TRIES):
        now = utcnow()
        update: dict[str, Any] = {"$inc": {"version": 1}}
        if inserted:
            update["$inc"]["message_count"] = 1
        fields: dict[str, Any] = {"updated_at": now, "preview": text[:200]}
        if resolve:
            before_sla = conv.get("sla") or {}
            sla = sla_clock.on_resolved(before_sla)
            fields.update(
                {"status": ConversationStatus.RESOLVED.value, "resolved_at": now},
                **queue.sla_update(before_sla, sla, now),
            )
            update["$addToSet"] = {"tags": BOT_TAG}
        update["$set"] = fields
        result = await db[CONVERSATIONS].update_one(
            {"_id": conv["_id"], "version": conv.get("version")}, update
        )
        if result.matched_count:
            return conv, applied(conv, update)
        reread = await db[CONVERSATIONS].find_one({"_id": conv["_id"]})
        assert reread is not None
        conv = reread
    raise TransientError(f"conversation {conv['_id']} kept changing under the bot's answer")


def _unfinished(conv: dict[str, Any], stored: dict[str, Any], asked_at: datetime) -> bool:
    """A redelivered answer whose first delivery stopped after storing the message: finish it
    (resolve, send) unless the customer has written since or it was sent already."""
    at_ms = asked_at.replace(microsecond=asked_at.microsecond // 1000 * 1000)
    latest = conv.get("last_message_at")
    if latest is not None and latest > at_ms:
        return False  # the customer wrote again: the conversation moved on
    queued = (stored.get("delivery") or {}).get("status") == DeliveryStatus.QUEUED.value
    return queued or BOT_TAG not in conv.get("tags", [])
