"""What agents do to a conversation: reply, note, assign, change status, tag.

Every change is one atomic update that bumps the conversation's `version`, then saved
events (outbox) that are published. Claims use optimistic concurrency: of two agents
claiming the same conversation one wins, the other gets 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pymongo import DESCENDING, ReturnDocument

from inbox_core import sla as sla_clock
from inbox_core import subjects
from inbox_core.attachments import REPLY_FILES, reply_file_problem
from inbox_core.blobs import BlobNotFoundError, blob_metadata
from inbox_core.errors import BusUnavailable
from inbox_core.guarded_update import applied, update_returning
from inbox_core.placeholders import render_reply, values_for
from inbox_core.schema import (
    Attachment,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Event,
    OutboundReply,
    new_id,
    utcnow,
)
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_notifier.desk_routing import RoutingDesk
from inbox_notifier.events import EventPublisher
from inbox_notifier.file_links import FileLinks
from inbox_notifier.models import AssignIn, ReplyIn, StatusIn, TagsIn
from inbox_notifier.queue import CANNED, Queue, attachment_url, conversation_view, message_view
from inbox_notifier.routing import ApiError, conflict, not_found

REWRITE_TRIES: Final = 5  # guarded writes of a busy conversation before an unguarded one

# Which status an agent may move a conversation to, from which.
TRANSITIONS: dict[ConversationStatus, set[ConversationStatus]] = {
    ConversationStatus.OPEN: {ConversationStatus.PENDING, ConversationStatus.RESOLVED},
    ConversationStatus.PENDING: {ConversationStatus.OPEN, ConversationStatus.RESOLVED},
    ConversationStatus.RESOLVED: {ConversationStatus.OPEN},
}


class Desk(RoutingDesk):
    # Public links for reply files (file_links.py), set by the app with INBOX_PUBLIC_URL.
    file_links: FileLinks | None = None

    def __init__(self, queue: Queue, publisher: EventPublisher) -> None:
        self.queue = queue
        self.publisher = publisher

    @property
    def db(self) -> Any:
        return self.queue.db

    async def conversation(self, conv_id: str) -> dict[str, Any]:
        doc = await self.db[CONVERSATIONS].find_one({"_id": conv_id}, {"search": 0})
        if doc is None:
            raise not_found(f"conversation {conv_id}")
        return dict(doc)

    async def _latest_customer_message(
        self, conv_id: str, channel: str | None = None
    ) -> dict[str, Any] | None:
        query = {"conversation_id": conv_id, "direction": "in", "kind": "message"}
        if channel:
            query["channel"] = channel
        doc = await self.db[MESSAGES].find_one(
            query,
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
        )
        return dict(doc) if doc else None

    async def _emit(self, conv: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        view = conversation_view(conv)
        cid = conv["_id"]
        events = [
            Event(
                id=f"message.created:{m['_id']}",
                type="message.created",
                conversation_id=cid,
                conversation=view,
                message=message_view(m),
            )
            for m in messages
        ]
        events.append(
            Event(
                id=f"conversation.updated:{cid}:v{conv.get('version', 0)}",
                type="conversation.updated",
                conversation_id=cid,
                conversation=view,
            )
        )
        await self.publisher.publish(await self.queue.save_events(events))

    async def _update(
        self,
        conv_id: str,
        filter_: dict[str, Any],
        update: dict[str, Any],
        conflict_code: str,
        conflict_message: str,
    ) -> dict[str, Any]:
        update.setdefault("$inc", {})["version"] = 1
        update.setdefault("$set", {})["updated_at"] = utcnow()
        doc = await update_returning(
            self.db[CONVERSATIONS], {"_id": conv_id, **filter_}, update, projection={"search": 0}
        )
        if doc is None:
            current = await self.conversation(conv_id)  # 404 when it does not exist
            raise conflict(conflict_code, conflict_message.format(**current))
        return dict(doc)

    async def _rewrite(
        self,
        conv_id: str,
        compute: Callable[[dict[str, Any]], dict[str, Any]],
        first_read: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A read-modify-write of the conversation (its SLA state): the update is computed
        from the conversation as read and written only on that version; another writer in
        between (the queue applying a customer message, a timer, another agent) moves the
        version, and the update is computed again from a fresh read. `compute` may refuse
        (ApiError) the state it is given. The conversation before and after the write.
        Never a 409 for the race itself: the caller's action (a reply) may be sent already."""
        conv = first_read
        for _ in range(REWRITE_TRIES):
            if conv is None:
                conv = await self.conversation(conv_id)
            update = compute(conv)
            update.setdefault("$inc", {})["version"] = 1
            update.setdefault("$set", {})["updated_at"] = utcnow()
            result = await self.db[CONVERSATIONS].update_one(
                {"_id": conv_id, "version": conv.get("version")}, update
            )
            if result.matched_count:
                return conv, applied(conv, update)
            conv = None
        # Still changing (a busy conversation): the last read's update, written as it is; its
        # SLA part names only the fields it changes.
        conv = await self.conversation(conv_id)
        update = compute(conv)
        update.setdefault("$inc", {})["version"] = 1
        update.setdefault("$set", {})["updated_at"] = utcnow()
        doc = await self.db[CONVERSATIONS].find_one_and_update(
            {"_id": conv_id},
            update,
            projection={"search": 0},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise not_found(f"conversation {conv_id}")
        return conv, dict(doc)

    # --- reply and note -----------------------------------------------------------------

    async def render_text(
        self, conv: dict[str, Any], text: str, agent: str
    ) -> tuple[str, list[str]]:
        latest = await self._latest_customer_message(conv["_id"])
        return render_reply(text, values_for(conv, (latest or {}).get("context") or {}, agent))

    def _with_links(self, channel: str, files: list[Attachment]) -> list[Attachment]:
        """For a platform that fetches files by URL, each file with its public link."""
        limits = REPLY_FILES.get(channel)
        if self.file_links is None or limits is None or not limits.by_url:
            return files
        links = self.file_links
        return [f.model_copy(update={"url": links.url(f.ref or "")}) for f in files]

    async def _reply_files(self, refs: list[str]) -> list[Attachment]:
        """The uploaded files a reply names; 422 for a ref that names none."""
        files = []
        for ref in dict.fromkeys(refs):
            try:
                meta = await blob_metadata(self.db, ref)
            except BlobNotFoundError as err:
                raise ApiError(
                    422,
                    "unknown_attachment",
                    f"no uploaded file {ref[:80]}",
                    [{"field": "attachments", "message": "upload it with POST /api/attachments"}],
                ) from err
            files.append(
                Attachment(
                    name=meta["filename"],
                    content_type=meta["content_type"],
                    size=meta["size"],
                    ref=ref,
                )
            )
        return files

    async def canned_text(self, canned_id: str) -> str:
        doc = await self.db[CANNED].find_one({"_id": canned_id})
        if doc is None:
            raise not_found(f"canned response {canned_id}")
        return str(doc["text"])

    async def reply(
        self, conv_id: str, body: ReplyIn, agent: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        conv = await self.conversation(conv_id)
        if conv.get("merged_into"):  # its messages and customer are in the other one now
            raise conflict(
                "merged", f"conversation #{conv.get('number')} was merged; reply in the other one"
            )
        author = agent  # the token's agent; a body's `agent` is ignored
        if body.text is None and body.canned_id is None:
            raise ApiError(
                422,
                "validation_error",
                "text or canned_id is required",
                [{"field": "text", "message": "text or canned_id is required"}],
            )
        template = (
            body.text if body.text is not None else await self.canned_text(body.canned_id or "")
        )
        text, _ = await self.render_text(conv, template, author)
        latest = await self._latest_customer_message(conv_id, body.channel) or {}
        if body.channel and not latest:
            raise ApiError(
                422,
                "channel_not_in_conversation",
                f"the customer has not written on {body.channel} in this conversation",
                [{"field": "channel", "message": "no customer message on this channel"}],
            )
        # Where the customer last wrote (or the channel the agent chose): after a merge the
        # conversation may span channels.
        channel = latest.get("channel") or conv["channel"]
        account = latest.get("account") or conv["account"]
        files = await self._reply_files(body.attachments)
        links = self.file_links is not None
        if problem := reply_file_problem(channel, files, public_links=links):
            # Refused before anything is stored or sent.
            raise ApiError(422, "attachments_not_supported", problem)
        now = utcnow()
        reply_id = new_id()
        doc = {
            "_id": reply_id,
            "dedup_id": f"reply:{reply_id}",
            "reply_id": reply_id,
            "conversation_id": conv_id,
            "channel": channel,
            "account": account,
            "direction": "out",
            "kind": "message",
            "author": author,
            "text": text,
            "canned_id": body.canned_id,
            "attachments": [
                {
                    "name": f.name,
                    "content_type": f.content_type,
                    "size": f.size,
                    "url": attachment_url(f.ref, None),
                }
                for f in files
            ],
            "created_at": now,
            "stored_at": now,
            "delivery": {"status": DeliveryStatus.QUEUED.value, "error": None, "at": now},
        }
        await self.db[MESSAGES].insert_one(doc)
        customer = latest.get("customer") or conv.get("customer") or {}
        reply = OutboundReply(
            id=reply_id,
            conversation_id=conv_id,
            channel=channel,
            account=account,
            customer=Customer(
                **{
                    k: customer.get(k)
                    for k in ("id", "name", "email", "phone")
                    if customer.get(k) is not None
                }
                or {"id": "unknown"}
            ),
            thread_keys=latest.get("thread_keys") or [],
            in_reply_to=latest.get("external_id"),
            subject=conv.get("subject"),
            text=text,
            agent=author,
            attachments=self._with_links(channel, files),
            context={
                **(latest.get("context") or {}),
                "conversation_number": conv.get("number"),
                "last_customer_message_at": latest["created_at"].isoformat()
                if latest.get("created_at")
                else None,
            },
        )
        try:
            await self.publisher.runtime.bus.publish_model(
                subjects.outbound(channel, account),
                reply,
                msg_id=f"reply:{reply_id}",
            )
        except BusUnavailable as err:
            await self.db[MESSAGES].update_one(
                {"_id": reply_id},
                {
                    "$set": {
                        "delivery": {
                            "status": DeliveryStatus.FAILED.value,
                            "error": "not sent: the bus is unavailable",
                            "at": utcnow(),
                        }
                    }
                },
            )
            raise ApiError(
                503, "bus_unavailable", "the reply could not be queued; try again"
            ) from err

        def answered(current: dict[str, Any]) -> dict[str, Any]:
            before = current.get("sla") or {}
            sla = sla_clock.on_agent_reply(before, now, by=author)
            return {
                "$set": self.queue.sla_update(before, sla, now),
                "$max": {"last_message_at": now},
            }

        # The conversation may have changed while the reply was sent: computed on a fresh read.
        conv, updated = await self._rewrite(conv_id, answered)
        await self.queue.count_changes([(conv, updated)])
        await self._emit(updated, [doc])
        return updated, doc

    async def note(
        self, conv_id: str, text: str, agent: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        await self.conversation(conv_id)
        now = utcnow()
        note_id = new_id()
        doc = {
            "_id": note_id,
            "dedup_id": f"note:{note_id}",
            "conversation_id": conv_id,
            "direction": "out",
            "kind": "note",
            "author": agent,
            "text": text,
            "created_at": now,
            "stored_at": now,
        }
        await self.db[MESSAGES].insert_one(doc)
        updated = await self._update(conv_id, {}, {}, "conflict", "conversation changed")
        await self._emit(updated, [doc])
        return updated, doc

    # --- assignment, status, tags -------------------------------------------------------

    async def assign(
        self, conv_id: str, body: AssignIn, actor: str, *, may_force: bool = False
    ) -> dict[str, Any]:
        """Claim, hand over or unassign. Without `force` (admins only) the conversation must
        be free or held by the actor or the new assignee: 409 `assign_conflict` otherwise,
        unassigning included."""
        if body.force and not may_force:
            raise ApiError(403, "forbidden", "only an admin may take over (force)")
        filter_: dict[str, Any] = {}
        if body.version is not None:
            filter_["version"] = body.version
        if not body.force:
            filter_["assignee"] = {"$in": list(dict.fromkeys([None, actor, body.assignee]))}
        message = (
            "conversation #{number} is assigned to {assignee} (version {version})"
            if body.version is None
            else "conversation #{number} changed (now version {version}, assigned to {assignee})"
        )
        updated = await self._update(
            conv_id, filter_, {"$set": {"assignee": body.assignee}}, "assign_conflict", message
        )
        await self._emit(updated, [])
        return updated

    async def set_status(
        self, conv_id: str, body: StatusIn, agent: str | None = None
    ) -> dict[str, Any]:
        target = body.status
        sources = [s.value for s, targets in TRANSITIONS.items() if target in targets]
        if body.until is not None:
            sources.append(ConversationStatus.PENDING.value)  # snoozing again moves the time
        now = utcnow()
        if body.until is not None and body.until <= now:
            raise ApiError(
                422,
                "validation_error",
                "until must be in the future",
                [{"field": "until", "message": "until must be in the future"}],
            )

        def transition(conv: dict[str, Any]) -> dict[str, Any]:
            if conv.get("status") not in sources:
                raise conflict(
                    "invalid_transition",
                    f"cannot move a {conv.get('status')} conversation to {target.value}",
                )
            if body.version is not None and conv.get("version") != body.version:
                raise conflict(
                    "conflict",
                    "conversation #{number} changed (now {status}, version {version})".format(
                        **conv
                    ),
                )
            before = dict(conv.get("sla") or {})
            sla = before
            # The snooze timer lives in the store (snooze.py): any status change replaces it.
            fields: dict[str, Any] = {"status": target.value, "snoozed_until": body.until}
            if target == ConversationStatus.PENDING:
                if conv.get("status") != ConversationStatus.PENDING:  # else it stays paused
                    sla = sla_clock.on_pending(sla, now, self.queue.clock)
            elif target == ConversationStatus.RESOLVED:
                sla = sla_clock.on_resolved(sla)
                fields["resolved_at"] = now
                fields["resolved_by"] = agent
            else:
                sla = sla_clock.on_resume(sla, now, self.queue.clock)
                fields["resolved_at"] = None
            fields.update(self.queue.sla_update(before, sla, now))
            return {"$set": fields}

        conv, updated = await self._rewrite(conv_id, transition)
        # Written on the version read, from its status: the transition is counted once.
        await self.queue.count_changes([(conv, updated)])
        await self._emit(updated, [])
        return updated

    async def tag(self, conv_id: str, body: TagsIn, agent: str = "unknown") -> dict[str, Any]:
        conv = await self.conversation(conv_id)
        tags = [t for t in conv.get("tags", []) if t not in body.remove]
        tags += [t for t in dict.fromkeys(body.add) if t not in tags]
        updated = await self._update(
            conv_id,
            {"version": conv.get("version", 0)},
            {"$set": {"tags": tags}},
            "conflict",
            "conversation #{number} changed while tagging; retry",
        )
        await self.queue.count_changes([(conv, updated)])  # the bot_answered tag is counted
        # A category tag (배송, 재입고, ...) sets the category and is a routing correction.
        recategorised = await self.category_from_tags(conv, body.add, agent)
        if recategorised is not None:
            await self.queue.count_changes([(updated, recategorised)])  # reports follow it
            updated = recategorised
        await self._emit(updated, [])
        return updated
