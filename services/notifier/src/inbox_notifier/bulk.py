"""Bulk actions: one agent action on up to 500 conversations. Each conversation is changed
on its own (its own update, its own events), so one failing (gone, changed, already
resolved) is reported in its result and does not stop the others."""

from __future__ import annotations

import asyncio
from typing import Final

from pymongo.errors import PyMongoError

from inbox_core.errors import InboxError
from inbox_core.logging import get_logger
from inbox_core.schema import ConversationStatus
from inbox_notifier.desk import Desk
from inbox_notifier.desk_models import BulkIn, BulkResult
from inbox_notifier.models import AssignIn, ReplyIn, StatusIn, TagsIn
from inbox_notifier.routing import ApiError

log = get_logger(__name__)

# A few at a time: the store serves the queue meanwhile, and replies keep their order.
CONCURRENCY: Final = 4


async def _apply(desk: Desk, conv_id: str, body: BulkIn, agent: str, admin: bool) -> None:
    if body.action == "resolve":
        await desk.set_status(conv_id, StatusIn(status=ConversationStatus.RESOLVED))
    elif body.action == "assign":
        assign = AssignIn(assignee=body.assignee, force=body.force)
        await desk.assign(conv_id, assign, agent, may_force=admin)
    elif body.action == "tag":
        await desk.tag(conv_id, TagsIn(add=body.add, remove=body.remove), agent)
    elif body.action == "team":
        await desk.set_team(conv_id, body.team or "", agent)
    else:
        reply = ReplyIn(text=body.text, canned_id=body.canned_id, attachments=body.attachments)
        await desk.reply(conv_id, reply, agent)


async def run_bulk(
    desk: Desk, body: BulkIn, agent: str, *, admin: bool = False
) -> list[BulkResult]:
    if body.action == "reply" and body.text is None and body.canned_id:
        await desk.canned_text(body.canned_id)  # an unknown canned response: 404, nothing sent
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(conv_id: str) -> BulkResult:
        async with gate:
            try:
                await _apply(desk, conv_id, body, agent, admin)
            except ApiError as err:
                return BulkResult(id=conv_id, ok=False, error=err.code, message=err.message)
            except (InboxError, PyMongoError) as err:
                log.warning("bulk action failed", action=body.action, error=repr(err))
                return BulkResult(id=conv_id, ok=False, error="failed", message=str(err)[:200])
        return BulkResult(id=conv_id, ok=True)

    return list(await asyncio.gather(*(one(i) for i in body.ids)))
