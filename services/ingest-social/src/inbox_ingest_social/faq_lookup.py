"""Whether an agent has the conversation a chat message joins, read from the store (the
router's thread keys, the notifier's conversations): the FAQ bot stays out of those."""

from __future__ import annotations

from inbox_core.faq import FaqCatalog
from inbox_core.schema import ConversationStatus, InboundMessage
from inbox_core.store import CONVERSATIONS, THREADS

AGENT_STATUSES = (ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)


async def agent_has_thread(faq: FaqCatalog, message: InboundMessage) -> bool:
    db = faq.db()
    thread = await db[THREADS].find_one({"_id": message.thread_keys[0]})
    if thread is None:
        return False  # a new conversation
    conv = await db[CONVERSATIONS].find_one({"_id": thread["conversation_id"]}, {"status": 1})
    return conv is not None and conv.get("status") in AGENT_STATUSES
