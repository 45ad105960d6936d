"""`MarketChannel`: what the open-market Q&A boards share, on the core SDK.

A marketplace channel is a `PollingChannel` (one platform, one account) run by the core's
`PollerRunner`, with the core's time-window cursor (`BoardCursor`, a `WindowCursor`) as its
`cursor_type`, the core's `RetryPolicy` around platform calls and the core's answer ledger
as the loop guard. A channel describes its boards and writes two platform calls:

    async def fetch(board, window, page, http) -> FetchedPage   # one list page, normalised
    async def post_answer(board, question_id, text, reply, http) -> SendResult

What is left here is the Q&A logic: `poll` pins the window, fetches, `diff`s each question
against its fingerprint, drops answers we posted ourselves (the ledger), reports questions
a revisit pass no longer finds, and returns the page with the next cursor (saved by the
runner only after every PubAck). `send` finds the board and question a reply answers (from
its thread key), checks the platform's limits (a clear `PermanentError` for the agent),
records the answer in the ledger, and posts it.

Checklist (STYLE): dedup key `<channel>:<account>:<board>:<id>[:suffix]` (`board.py`);
thread key `<channel>:<account>:<board>:<id>`; limits `Board.limits`; loop guard the ledger.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import aiohttp

from inbox_core.answer_ledger import AnswerLedger, MemoryAnswerLedger, answer_key
from inbox_core.connector import Page, PollingChannel, SendResult
from inbox_core.errors import AuthError, InboxError, PermanentError
from inbox_core.http import RetryPolicy
from inbox_core.logging import get_logger
from inbox_core.schema import InboundMessage, OutboundReply
from inbox_core.window_cursor import Window, WindowPolicy
from inbox_ingest_marketplace import metrics
from inbox_ingest_marketplace.channels.board import (
    Board,
    FetchedPage,
    text_hash,
    thread_key,
)
from inbox_ingest_marketplace.channels.board_cursor import BoardCursor
from inbox_ingest_marketplace.channels.question_changes import Known, diff, vanished

log = get_logger(__name__)


@dataclass(frozen=True)
class PollOptions:
    backfill: timedelta = timedelta(days=3)  # how far back a new account reads
    watch: timedelta = timedelta(days=7)  # how far back revisit passes look for changes
    revisit: timedelta | None = timedelta(minutes=10)  # None: never; 0: every poll
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _change_kind(message: InboundMessage) -> str:
    ctx = message.context
    if message.flags.echo:
        return "answered_on_platform"
    if ctx.get("platform_cs"):
        return "platform_cs"
    if ctx.get("edited"):
        return "edited"
    if ctx.get("deleted"):
        return "deleted"
    return "new"


class MarketChannel(PollingChannel):
    """One shop account on one platform; `board_specs` lists its boards."""

    board_specs: ClassVar[tuple[Board, ...]]
    platform: ClassVar[str]  # shown to agents in errors: "11번가"
    cursor_type = BoardCursor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "board_specs" in cls.__dict__:
            cls.boards = tuple(b.name for b in cls.board_specs)

    def __init__(
        self,
        account: str,
        *,
        options: PollOptions | None = None,
        ledger: AnswerLedger | None = None,
    ) -> None:
        super().__init__(account)
        self.options = options or PollOptions()
        self.ledger: AnswerLedger = ledger or MemoryAnswerLedger()

    def board(self, name_or_key: str) -> Board:
        for board in self.board_specs:
            if name_or_key in (board.name, board.key):
                return board
        raise PermanentError(f"{self.name} has no board {name_or_key!r}")

    def policy(self, board: Board) -> WindowPolicy:
        return WindowPolicy(
            max_window=board.max_window,
            backfill=self.options.backfill,
            watch=self.options.watch,
            revisit=self.options.revisit,
        )

    # --- what a channel writes ---------------------------------------------------------

    @abstractmethod
    async def fetch(
        self, board: Board, window: Window, page: int, http: aiohttp.ClientSession
    ) -> FetchedPage:
        """One page of the board's list for `window`, normalised. Raise the taxonomy."""

    @abstractmethod
    async def post_answer(
        self,
        board: Board,
        question_id: str,
        text: str,
        reply: OutboundReply,
        http: aiohttp.ClientSession,
    ) -> SendResult:
        """Post `text` (already checked against the limits) as the answer."""

    # --- poll template -----------------------------------------------------------------

    async def poll(
        self, board: str, cursor: BoardCursor | None, http: aiohttp.ClientSession, now: datetime
    ) -> Page:
        spec = self.board(board)
        labels = (self.name, self.account, spec.name)
        try:
            page, nxt = await self._poll(spec, cursor, http, now)
        except AuthError:
            metrics.AUTH_FAILED.labels(*labels).set(1)
            raise
        metrics.AUTH_FAILED.labels(*labels).set(0)
        metrics.BOARD_LAST_SUCCESS.labels(*labels).set(now.timestamp())
        metrics.POLL_LAG.labels(*labels).set(max(0.0, (now - nxt.frontier()).total_seconds()))
        for message in page.messages:
            metrics.CHANGES.labels(*labels, _change_kind(message)).inc()
        return page

    async def _poll(
        self,
        board: Board,
        cursor: BoardCursor | None,
        http: aiohttp.ClientSession,
        now: datetime,
    ) -> tuple[Page, BoardCursor]:
        policy = self.policy(board)
        state = BoardCursor.start(cursor, now, policy).begin(now, policy)
        window = state.window()
        fetched = await self.options.retry.call(
            lambda: self.fetch(board, window, state.page, http),
            what=f"{self.name}:{self.account} {board.name}",
        )
        updates: dict[str, Known] = {}
        candidates: list[tuple[InboundMessage, str | None]] = []
        for question in fetched.questions:
            qid = question.question_id
            changes, updates[qid] = diff(
                question, updates.get(qid) or state.known.get(qid), board, now
            )
            for change in changes:
                key = None
                if change.answer_hash is not None:
                    key = answer_key(question.message.thread_keys[0], change.answer_hash)
                candidates.append((change.message, key))
        ours = await self.ledger.ours(k for _, k in candidates if k is not None)
        messages = [m for m, k in candidates if k is None or k not in ours]
        nxt, more, gone = state.after_page(
            now,
            policy,
            last=fetched.last,
            listed=[q.question_id for q in fetched.questions],
            updates=updates,
        )
        for qid, known in gone.items():
            messages.append(
                vanished(
                    known,
                    channel=self.name,
                    account=self.account,
                    board=board,
                    question_id=qid,
                    now=now,
                )
            )
        for _, error in fetched.rejected:
            log.error(
                "unreadable item kept aside",
                channel=self.name,
                account=self.account,
                board=board.name,
                error=error,
            )
        page = Page(messages=messages, cursor=nxt, more=more, rejected=fetched.rejected)
        return page, nxt

    # --- answer template ---------------------------------------------------------------

    def target(self, reply: OutboundReply) -> tuple[Board, str]:
        """The board and question a reply answers: its thread key, else its context, else
        `in_reply_to` (`<board>:<id>…`)."""
        for key in reply.thread_keys:
            parts = key.split(":")
            if len(parts) == 4 and parts[:2] == [self.name, self.account] and parts[3]:
                try:
                    return self.board(parts[2]), parts[3]
                except PermanentError:
                    continue
        qid = reply.context.get("question_id")
        if qid is not None and str(qid).strip():
            board_key = reply.context.get("board") or self.board_specs[0].key
            return self.board(str(board_key)), str(qid).strip()
        if reply.in_reply_to:
            board_key, _, rest = reply.in_reply_to.partition(":")
            qid = rest.split(":")[0]
            if qid:
                return self.board(board_key), qid
        raise PermanentError(
            f"reply {reply.id} names no {self.platform} question of account {self.account!r}"
        )

    async def send(self, reply: OutboundReply, http: aiohttp.ClientSession) -> SendResult:
        board, question_id = self.target(reply)
        labels = (self.name, self.account, board.name)
        try:
            text = board.limits.check(reply.text, platform=self.platform)
        except PermanentError:
            metrics.ANSWERS.labels(*labels, "refused").inc()
            raise
        key = thread_key(self.name, self.account, board.key, question_id)
        await self.ledger.record(answer_key(key, text_hash(text)))
        try:
            result = await self.options.retry.call(
                lambda: self.post_answer(board, question_id, text, reply, http),
                what=f"{self.name}:{self.account} answer {board.key}:{question_id}",
            )
        except AuthError as err:
            metrics.ANSWERS.labels(*labels, "failed").inc()
            # inbox_core.http: a reply refused for its credentials is reported failed with
            # the platform's reason; redelivering it with the same credentials cannot help.
            raise PermanentError(f"credentials refused: {err}") from err
        except InboxError:
            metrics.ANSWERS.labels(*labels, "failed").inc()
            raise
        metrics.ANSWERS.labels(*labels, "sent").inc()
        return result

    @staticmethod
    def answer_external_id(board: Board, question_id: str, text: str) -> str:
        """The id the answer gets as a message (the same an echo of it would have)."""
        return f"{board.key}:{question_id}:answer:{text_hash(text)}"
