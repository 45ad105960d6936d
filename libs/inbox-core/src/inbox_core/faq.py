"""FAQ entries and the bot's decision to answer one.

Entries live in the `faq` collection (the notifier's API writes them). Every service that
matches (router, notifier, ingest-social for the Kakao skill response) keeps a `FaqCatalog`:
the entries and a matcher built from them, reloaded when an entry changes (checked every few
seconds; a reload is one small read).

`bot_answer` is the hot-path decision, pure (no I/O): a customer message on a chat channel
(or on a channel an entry lists) that an active `auto_answer` entry matches with `auto` gets the
entry's answer, rendered; a message that asks for a person never does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import AwareDatetime, BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.faq_matcher import FaqMatcher, wants_person
from inbox_core.logging import get_logger
from inbox_core.placeholders import render_reply
from inbox_core.schema import BotAnswer, Direction, InboundMessage, utcnow

log = get_logger(__name__)

FAQ: Final = "faq"  # collection: notifier writes (API); router, ingest-social read
CHAT_CHANNELS: Final = frozenset({"kakao", "naver_talktalk", "facebook", "instagram"})
REFRESH_S: Final = 5.0
MAX_SUGGESTIONS: Final = 3


class FaqEntry(BaseModel):
    id: str
    question: str
    examples: list[str] = Field(default_factory=list)
    answer: str
    channels: list[str] | None = None  # None: every chat channel answers, others suggest
    auto_answer: bool = True
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> FaqEntry:
        return cls.model_validate({**doc, "id": doc["_id"]})

    def active(self, now: datetime) -> bool:
        return (self.active_from is None or self.active_from <= now) and (
            self.active_until is None or now < self.active_until
        )

    def answers_on(self, channel: str | None) -> bool:
        """May the bot answer on `channel` with no agent? (None: any chat channel)"""
        if self.channels is not None:
            return channel is None or channel in self.channels
        return channel is None or channel in CHAT_CHANNELS


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    score: float


@dataclass(frozen=True)
class FaqResult:
    matches: list[FaqMatch]  # active entries, best first, at most 3
    auto: bool  # answer matches[0] with no agent


@dataclass
class FaqSnapshot:
    """The entries of one moment and their matcher."""

    entries: dict[str, FaqEntry] = field(default_factory=dict)
    matcher: FaqMatcher | None = None

    @classmethod
    def of(cls, entries: list[FaqEntry]) -> FaqSnapshot:
        if not entries:
            return cls()
        matcher = FaqMatcher((e.id, [e.question, *e.examples]) for e in entries)
        return cls({e.id: e for e in entries}, matcher)

    def answers_on(self, channel: str) -> bool:
        """Could any entry be answered by the bot on `channel`?"""
        return any(e.auto_answer and e.answers_on(channel) for e in self.entries.values())

    def match(
        self, text: str, channel: str | None = None, now: datetime | None = None
    ) -> FaqResult:
        if self.matcher is None or not text.strip():
            return FaqResult([], False)
        now = now or utcnow()
        result = self.matcher.match(text, limit=len(self.entries))
        matches = [
            FaqMatch(self.entries[s.key], s.score)
            for s in result.matches
            if s.key in self.entries and self.entries[s.key].active(now)
        ][:MAX_SUGGESTIONS]
        best = result.matches[0].key if result.matches else None
        auto = (
            result.auto
            and bool(matches)
            and matches[0].entry.id == best
            and matches[0].entry.auto_answer
            and matches[0].entry.answers_on(channel)
        )
        return FaqResult(matches, auto)


def answer_values(message: InboundMessage, number: int | None = None) -> dict[str, str]:
    """Placeholder values known from the message alone."""
    values = {
        "customer.name": message.customer.name,
        "customer.email": message.customer.email,
        "product.name": message.context.get("product_name"),
        "order.id": message.context.get("order_id"),
        "conversation.number": str(number) if number is not None else None,
        "conversation.subject": message.subject,
    }
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def bot_answer(
    snapshot: FaqSnapshot,
    message: InboundMessage,
    *,
    now: datetime | None = None,
    number: int | None = None,
) -> BotAnswer | None:
    """The bot's answer to `message`, or None when an agent should answer (pure)."""
    if not snapshot.answers_on(message.channel):
        return None  # mail and market Q&A, unless an entry lists them: no matching at all
    flags = message.flags
    if message.direction != Direction.IN or flags.auto_reply or flags.bounce or flags.echo:
        return None
    if flags.list_mail or message.context.get("bot_test") or wants_person(message.text):
        return None
    result = snapshot.match(message.text, message.channel, now)
    if not result.auto:
        return None
    best = result.matches[0]
    text, _ = render_reply(best.entry.answer, answer_values(message, number))
    return BotAnswer(faq_id=best.entry.id, score=best.score, text=text.strip())


class FaqCatalog:
    """The current FaqSnapshot of the store's entries, reloaded when they change."""

    def __init__(self, db: Callable[[], AsyncDatabase[dict[str, Any]]]) -> None:
        self.db = db
        self.snapshot = FaqSnapshot()
        self.loaded = False  # the entries were read at least once
        self._fingerprint: tuple[Any, ...] | None = None

    async def refresh(self) -> FaqSnapshot:
        docs = [d async for d in self.db()[FAQ].find({}, sort=[("_id", 1)])]
        fingerprint = tuple((d["_id"], d.get("updated_at")) for d in docs)
        if fingerprint != self._fingerprint:
            entries = []
            for doc in docs:
                try:
                    entries.append(FaqEntry.from_doc(doc))
                except ValueError as err:  # a hand-edited document: skipped, said once
                    log.warning("faq entry skipped", faq_id=doc.get("_id"), error=str(err))
            self.snapshot = FaqSnapshot.of(entries)
            self._fingerprint = fingerprint
        self.loaded = True
        return self.snapshot

    async def watch(self, every_s: float = REFRESH_S) -> None:
        """Reload forever (a runtime task); a failed read keeps the entries it had."""
        while True:
            try:
                await self.refresh()
            except Exception as err:  # the store is away: keep answering with what we have
                log.warning("faq entries not reloaded", error=repr(err))
            await asyncio.sleep(every_s)
