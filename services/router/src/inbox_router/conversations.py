"""Conversation resolution: which conversation does a message belong to?

The six conversation rules of DESIGN.md, in the order they are tried:

- A message whose references or own thread keys are known joins that conversation (mail
  Message-ID / In-Reply-To / References, chat `platform:page:user`, marketplace question id).
  Failing that, a `[#number]` subject tag names the conversation, when it is the same
  customer's (a mistyped or guessed number never puts a stranger's mail in a conversation).
- Joining a resolved conversation reopens it (rule 1), except a thanks-only reply (rule 2),
  and except after `reopen_window` (rule 3): then a new conversation starts, linked to the
  old one, and the thread keys that pointed at the old one point at the new one.
- A new mail that is not a reply joins the same customer's open or pending conversation with
  the same normalised subject (rule 4).
- Automatic mail (auto-replies, bounces, list mail) joins a known conversation silently and
  never creates one (rule 5); the caller keeps it aside.

Atomic under concurrency and redelivery. Every decision that could race is an upsert on a
`threads` document whose `_id` is the key (thread key, `subject:…`, `successor:<id>`), and
the conversation a message would create has an id derived from the message's dedup id. So
racing messages read back one winner, and a redelivered message resolves to the same
conversation and learns it created it (`created` is "the conversation id is mine").
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, TypeAlias

from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from inbox_core.batched import BatchedDatabase
from inbox_core.errors import TransientError
from inbox_core.logging import get_logger
from inbox_core.schema import ConversationStatus, Direction, InboundMessage, utcnow
from inbox_core.store import CONVERSATIONS, THREADS
from inbox_core.text import normalise_subject, ticket_number
from inbox_router.customers import CustomerRecord
from inbox_router.ids import uuid5_hex
from inbox_router.thanks import is_thanks_only

log = get_logger(__name__)

INDEXES = {
    THREADS: [IndexModel([("conversation_id", 1), ("origin", 1)])],
    # customers and customer_keys: by _id only (see legacy_customers).
}
DEFAULT_REOPEN_WINDOW: Final = timedelta(days=7)
MAX_SUCCESSORS: Final = 8  # a chain of superseded conversations longer than this is a bug
OPEN_STATUSES: Final = (ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)
_NAMESPACE: Final = uuid.UUID("0c6f1f9e-55a2-4a57-b8a4-8f0f6f3d2a71")
_NEVER: Final = datetime.min.replace(tzinfo=UTC)

# Concurrent calls of a batch's messages go out together.
Db: TypeAlias = BatchedDatabase


def minted_conversation_id(message: InboundMessage) -> str:
    """The id of the conversation `message` would create: the same on every redelivery."""
    return uuid5_hex(_NAMESPACE, f"conversation:{message.dedup_id}")


@dataclass(frozen=True)
class Resolution:
    conversation_id: str
    created: bool
    reopen: bool
    how: str  # which conversation rule decided, for the routing reasons
    linked_conversation_id: str | None = None
    number: int | None = None  # known when the notifier has stored the conversation


class _Verdict(Enum):
    JOIN = "join"  # open, pending, or not stored yet: join (and reopen a pending one)
    REOPEN = "reopen"  # rule 1
    THANKS = "thanks"  # rule 2
    SUPERSEDE = "supersede"  # rule 3
    SILENT = "silent"  # rule 5 and the account's own echoes


@dataclass(frozen=True)
class _Hit:
    key: str
    conversation_id: str


def _automatic(message: InboundMessage) -> bool:
    flags = message.flags
    return flags.auto_reply or flags.bounce or flags.list_mail


def _age(since: datetime | None, at: datetime) -> str:
    if since is None:
        return "at an unknown time"
    days = (at - since) / timedelta(days=1)
    return f"{days:.1f} days ago"


class ConversationResolver:
    def __init__(
        self,
        db: Db,
        *,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
        subject_channels: frozenset[str] = frozenset({"mail"}),
    ) -> None:
        self.db = db
        self.reopen_window = reopen_window
        self.subject_channels = subject_channels

    async def resolve(
        self, message: InboundMessage, customer: asyncio.Future[CustomerRecord | None]
    ) -> Resolution | None:
        """The conversation of `message`; None for automatic mail without a known one.

        `customer` is being found or linked meanwhile (Router.route): it is awaited only
        where a rule needs it (a subject tag, rule 4), so the thread lookups and claims go
        out together with the customer's store calls. A customer created by this message
        (`new`) has no conversation yet: rule 4 has nothing to look up."""
        keys = [*message.references, *message.thread_keys]
        docs = await self._thread_docs(keys)
        hit = next((_Hit(k, str(docs[k]["conversation_id"])) for k in keys if k in docs), None)
        if hit is not None:
            return await self._existing(message, hit.conversation_id, f"thread key {hit.key}", docs)
        number = ticket_number(message.subject)
        if number is not None:
            record = await customer
            if record is None or not record.new:  # a tag names the same customer's only
                conversation = await self._by_number(number, record.id if record else None)
                if conversation is not None:
                    how = f"subject tag [#{number}]"
                    return await self._existing(message, conversation, how, docs)
        if _automatic(message):
            return None
        minted = minted_conversation_id(message)
        by_subject = await self._by_subject(message, customer, minted)
        target, how = by_subject or (None, "")
        claimed: dict[str, Any] = {}
        if target is None:
            first = message.thread_keys[0]
            target = await self._claim(first, minted, message.dedup_id)
            claimed[first] = {"conversation_id": target}  # known now: no second claim of it
            how = f"rule 1: joins the new conversation (thread key {first})"
        await self._claim_own_keys(message, target, {**docs, **claimed}, superseded=set())
        if target == minted:
            how = self._created_how(message, None)
        return Resolution(target, created=target == minted, reopen=True, how=how)

    def _created_how(self, message: InboundMessage, linked: str | None) -> str:
        if linked is None:
            return f"new conversation (thread key {message.thread_keys[0]})"
        days = self.reopen_window / timedelta(days=1)
        return (
            f"rule 3: new conversation linked to {linked}, resolved more than {days:g} days "
            "before this reply"
        )

    # --- an existing conversation -----------------------------------------------------------

    async def _existing(
        self, message: InboundMessage, conversation_id: str, found_by: str, docs: dict[str, Any]
    ) -> Resolution:
        minted = minted_conversation_id(message)
        target, superseded, linked = conversation_id, [], None
        verdict, how, number = _Verdict.JOIN, found_by, None
        for _ in range(MAX_SUCCESSORS):
            conversation = await self._conversation(target)
            if conversation is not None and conversation.get("merged_into"):
                # An agent merged it: the conversation it went into takes its messages (its
                # keys are repointed by the notifier's ThreadMove; this covers the meantime).
                superseded.append(target)
                target = str(conversation["merged_into"])
                found_by = f"{found_by}, merged into {target}"
                continue
            verdict, how = self._classify(message, conversation, found_by)
            number = conversation.get("number") if conversation else None
            if verdict is not _Verdict.SUPERSEDE:
                break
            # Rule 3: one successor per old conversation, whoever claims it first.
            successor = await self._claim(
                f"successor:{target}", minted, message.dedup_id, successor_of=target
            )
            superseded.append(target)
            linked, target, found_by = target, successor, how
        else:
            raise TransientError(f"more than {MAX_SUCCESSORS} successors of {conversation_id}")
        await self._claim_own_keys(message, target, docs, superseded=set(superseded))
        created = target == minted
        if created:
            # Explained from stored state only, so a redelivery explains it the same way.
            linked = linked or await self._predecessor(target)
            how = self._created_how(message, linked)
        reopen = verdict in (_Verdict.JOIN, _Verdict.REOPEN) or created
        return Resolution(
            target,
            created=created,
            reopen=reopen,
            how=how,
            linked_conversation_id=linked,
            number=int(number) if number is not None else None,
        )

    def _classify(
        self, message: InboundMessage, conversation: dict[str, Any] | None, found_by: str
    ) -> tuple[_Verdict, str]:
        if _automatic(message):
            return _Verdict.SILENT, f"rule 5: automatic message joins silently ({found_by})"
        if message.direction != Direction.IN or message.flags.echo:
            return _Verdict.SILENT, f"the account's own message joins ({found_by})"
        if conversation is None or conversation.get("status") != ConversationStatus.RESOLVED:
            status = conversation.get("status") if conversation else "new"
            return _Verdict.JOIN, f"rule 1: joins the {status} conversation ({found_by})"
        resolved_at = conversation.get("resolved_at")
        age = _age(resolved_at, message.received_at)
        if is_thanks_only(message.text, customer_name=message.customer.name):
            return (
                _Verdict.THANKS,
                f"rule 2: thanks-only reply to the conversation resolved {age} is stored "
                f"without reopening it ({found_by})",
            )
        if resolved_at is not None and message.received_at - resolved_at > self.reopen_window:
            days = self.reopen_window / timedelta(days=1)
            return (
                _Verdict.SUPERSEDE,
                f"rule 3: conversation {conversation['_id']} was resolved {age}, past the "
                f"{days:g}-day reopen window; a new conversation is linked to it ({found_by})",
            )
        return _Verdict.REOPEN, f"rule 1: reopens the conversation resolved {age} ({found_by})"

    # --- rule 4: same subject ---------------------------------------------------------------

    async def _by_subject(
        self,
        message: InboundMessage,
        customer: asyncio.Future[CustomerRecord | None],
        minted: str,
    ) -> tuple[str, str] | None:
        subject = normalise_subject(message.subject)
        if (
            not subject
            or message.references
            or message.channel not in self.subject_channels
            or message.direction != Direction.IN
        ):
            return None
        record = await customer
        if record is None:
            return None
        customer_id = record.id
        digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
        key = f"subject:{message.channel}:{message.account}:{customer_id}:{digest}"
        joined = f"rule 4: same customer and subject {subject!r} as an open conversation"
        if record.new:
            # No conversation of this customer to find: claim the subject for the new one
            # (a racing mail of the same new customer and subject may have claimed it first).
            return await self._claim(key, minted, message.dedup_id), joined
        lock = await self.db[THREADS].find_one({"_id": key})
        if lock is not None:
            current = str(lock["conversation_id"])
            conversation = await self._conversation(current)
            if conversation is None or conversation.get("status") in OPEN_STATUSES:
                return current, joined
            # The conversation with this subject is resolved: a new one takes the subject.
            return await self._repoint(key, current, minted, message.dedup_id), joined
        open_one = self._open_with_subject(message, record, subject)
        proposed = open_one or minted
        winner = await self._claim(key, proposed, message.dedup_id)
        return winner, joined

    # --- store access -----------------------------------------------------------------------

    @staticmethod
    def _open_with_subject(
        message: InboundMessage, customer: CustomerRecord, subject: str
    ) -> str | None:
        """The customer's latest open or pending conversation on this account with this
        subject, picked from its conversations (read with the customer, by the indexed
        customer_id): a sorted query would leave the batch on its own round trip, and the
        message's later writes with it."""
        candidates = [
            d
            for d in customer.conversations
            if d.get("status") in OPEN_STATUSES
            and (d.get("channel"), d.get("account"), d.get("subject_norm"))
            == (message.channel, message.account, subject)
        ]
        if not candidates:
            return None
        latest = max(candidates, key=lambda d: d.get("last_message_at") or _NEVER)
        return str(latest["_id"])

    async def _thread_docs(self, keys: list[str]) -> dict[str, Any]:
        return {d["_id"]: d for d in await self.db[THREADS].find_in("_id", keys)}

    async def _conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return await self.db[CONVERSATIONS].find_one(
            {"_id": conversation_id},
            {"status": 1, "resolved_at": 1, "number": 1, "customer_id": 1, "merged_into": 1},
        )

    async def _by_number(self, number: int, customer_id: str | None) -> str | None:
        doc = await self.db[CONVERSATIONS].find_one({"number": number}, {"customer_id": 1})
        if doc is None:
            return None
        if customer_id is None or doc.get("customer_id") != customer_id:
            log.info("subject tag of another customer ignored", number=number)
            return None
        return str(doc["_id"])

    async def _predecessor(self, conversation_id: str) -> str | None:
        doc = await self.db[THREADS].find_one(
            {"conversation_id": conversation_id, "successor_of": {"$exists": True}},
            {"successor_of": 1},
        )
        return str(doc["successor_of"]) if doc else None

    async def _claim(self, key: str, conversation_id: str, created_by: str, **extra: Any) -> str:
        """Map `key` to `conversation_id` unless it is mapped already; return the winner.

        The upsert on the key is the lock: of two racing messages one inserts and both read
        the same mapping back. A racing upsert may fail with a duplicate key; it then reads.
        """
        try:
            result = await self.db[THREADS].update_one(
                {"_id": key},
                {
                    "$setOnInsert": {
                        "conversation_id": conversation_id,
                        "created_by": created_by,
                        "created_at": utcnow(),
                        **extra,
                    }
                },
                upsert=True,
            )
            if result.upserted_id is not None:
                return conversation_id  # ours
        except DuplicateKeyError:
            pass
        return await self._read(key)

    async def _repoint(self, key: str, old: str, new: str, by: str) -> str:
        """Compare-and-set `key` from `old` to `new`; return whichever it maps to now."""
        await self.db[THREADS].update_one(
            {"_id": key, "conversation_id": old},
            {"$set": {"conversation_id": new, "previous_conversation_id": old, "moved_by": by}},
        )
        return await self._read(key)

    async def _read(self, key: str) -> str:
        doc = await self.db[THREADS].find_one({"_id": key}, {"conversation_id": 1})
        if doc is None:
            raise TransientError(f"thread key {key!r} vanished while resolving")
        return str(doc["conversation_id"])

    async def _claim_own_keys(
        self, message: InboundMessage, target: str, docs: dict[str, Any], superseded: set[str]
    ) -> None:
        """Point this message's keys, and keys it refers to that pointed at a superseded
        conversation, at `target`, so later replies join it."""
        for key in [*message.references, *message.thread_keys]:
            doc = docs.get(key)
            if doc is not None and str(doc["conversation_id"]) in superseded:
                await self._repoint(key, str(doc["conversation_id"]), target, message.dedup_id)
            elif doc is None and key in message.thread_keys:
                await self._claim(key, target, message.dedup_id)
