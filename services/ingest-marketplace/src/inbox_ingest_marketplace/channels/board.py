"""What every open-market board has in common, and the messages built from a question.

A *board* is one list of customer questions on one platform (SmartStore product Q&A,
SmartStore customer inquiries, Coupang online inquiries, …). A channel turns each platform
item into a `Question`: the question as an `InboundMessage` plus what can change about it
later (its answers, whether it was deleted). `question_changes.diff` compares a `Question`
with what was published before and yields the messages to publish.

Identifiers (stable per item, so a repeat is dropped by the bus and by the notifier):

| message                          | external id                      | direction |
|----------------------------------|----------------------------------|-----------|
| the question                     | `<board>:<id>`                   | in        |
| the question, edited             | `<board>:<id>:edit:<texthash>`   | in        |
| the question, deleted            | `<board>:<id>:deleted`           | in        |
| an answer typed on the platform  | `<board>:<id>:answer:<texthash>` | out, echo |
| a note of the platform's own CS  | `<board>:<id>:cs:<answer id>`    | in        |

Every one of them carries the thread key `<channel>:<account>:<board>:<id>`, so the router
puts them all in the question's conversation.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from inbox_core.errors import PermanentError
from inbox_core.schema import Customer, Direction, InboundMessage, MessageFlags, new_id

KST: Final = timezone(timedelta(hours=9), "KST")
HASH_CHARS: Final = 12
DELETED_TEXT: Final = "(고객이 문의를 삭제했습니다)"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class AnswerLimits:
    """What a platform accepts as an answer. Checked before any call, so the agent gets a
    clear reason instead of a platform error (Chatwoot keeps limits as data, too)."""

    max_chars: int
    # The answer travels in this encoding (11st: EUC-KR, sent as CP949); characters outside
    # it (emoji, some symbols) are refused with their list.
    encoding: str | None = None

    def check(self, text: str, *, platform: str) -> str:
        """The answer as it will be sent, or PermanentError saying what to change."""
        clean = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not clean:
            raise PermanentError(f"{platform}: the answer is empty")
        if len(clean) > self.max_chars:
            raise PermanentError(
                f"{platform} accepts answers of at most {self.max_chars} characters; this one "
                f"has {len(clean)}. Shorten it and send it again."
            )
        if self.encoding is not None:
            bad = sorted({c for c in clean if not _encodable(c, self.encoding)})
            if bad:
                shown = " ".join(bad[:10])
                raise PermanentError(
                    f"{platform} takes answers in EUC-KR, which cannot hold these characters: "
                    f"{shown}. Remove them (emoji and some symbols) and send it again."
                )
        return clean


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Board:
    name: str  # the board as PollerRunner and the cursor know it: "qnas"
    key: str  # the token in thread keys and external ids: "qna"
    label: str  # shown in subjects: "상품문의"
    max_window: timedelta  # the longest span one list query may ask for
    limits: AnswerLimits
    date_only: bool = False  # the list API takes calendar days (KST), not instants


@dataclass(frozen=True)
class PlatformAnswer:
    """An answer as the platform lists it. `from_seller=False` is a note of the platform's
    own CS agents (Coupang call center), published as an inbound message."""

    text: str
    answered_at: datetime | None = None
    answer_id: str | None = None
    author: str | None = None
    from_seller: bool = True


@dataclass(frozen=True)
class Question:
    message: InboundMessage  # external id `<board>:<id>`, thread key `<ch>:<acct>:<board>:<id>`
    answers: tuple[PlatformAnswer, ...] = ()
    deleted: bool = False

    @property
    def question_id(self) -> str:
        return str(self.message.context["question_id"])


@dataclass
class FetchedPage:
    questions: list[Question]
    last: bool
    rejected: list[tuple[bytes, str]] = field(default_factory=list)


def thread_key(channel: str, account: str, board_key: str, question_id: str) -> str:
    return f"{channel}:{account}:{board_key}:{question_id}"


def text_hash(text: str) -> str:
    """A short, stable hash of what a person wrote (NFKC, whitespace collapsed)."""
    norm = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:HASH_CHARS]


def kst_date(value: datetime) -> str:
    return value.astimezone(KST).date().isoformat()


def optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


# --- messages built from a question's changes (pure) -------------------------------------


def edited_message(question: Question, *, at: datetime) -> InboundMessage:
    m = question.message
    return m.model_copy(
        update={
            "id": new_id(),
            "external_id": f"{m.external_id}:edit:{text_hash(m.text)}",
            "received_at": at,
            "context": {**m.context, "edited": True, "edit_of": m.external_id},
        }
    )


def deleted_message(
    channel: str,
    account: str,
    board: Board,
    question_id: str,
    *,
    customer_id: str,
    at: datetime,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account=account,
        external_id=f"{board.key}:{question_id}:deleted",
        thread_keys=[thread_key(channel, account, board.key, question_id)],
        customer=Customer(id=customer_id),
        subject=f"[{board.label}]",
        text=DELETED_TEXT,
        received_at=at,
        context={"board": board.key, "question_id": question_id, "deleted": True},
    )


def answer_echo(question: Question, answer: PlatformAnswer, *, at: datetime) -> InboundMessage:
    """An answer typed on the platform (not through us): recorded as the shop's message."""
    m = question.message
    return InboundMessage(
        channel=m.channel,
        account=m.account,
        external_id=f"{m.external_id}:answer:{text_hash(answer.text)}",
        direction=Direction.OUT,
        thread_keys=list(m.thread_keys),
        customer=m.customer,
        subject=m.subject,
        text=answer.text,
        received_at=answer.answered_at or at,
        context={
            "board": m.context.get("board"),
            "question_id": m.context.get("question_id"),
            "answer_id": answer.answer_id,
            "answered_by": answer.author,
            "answered_on_platform": True,
        },
        flags=MessageFlags(echo=True),
    )


def platform_cs_message(
    question: Question, answer: PlatformAnswer, *, at: datetime
) -> InboundMessage:
    """A note the platform's own CS added to the question (Coupang call center)."""
    m = question.message
    ref = answer.answer_id or text_hash(answer.text)
    who = f" {answer.author}" if answer.author else ""
    return m.model_copy(
        update={
            "id": new_id(),
            "external_id": f"{m.external_id}:cs:{ref}",
            "text": f"[플랫폼 상담사{who}] {answer.text}",
            "received_at": answer.answered_at or at,
            "context": {**m.context, "platform_cs": True, "answer_id": answer.answer_id},
        }
    )
