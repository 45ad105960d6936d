"""What changed about a question since it was last published (pure: no I/O, no clock).

The cursor remembers, per question still worth watching, a `Known` fingerprint: when it was
asked, a hash of its text, the hashes of the answers already recorded, the customer, and
whether it is gone. `diff` compares a freshly listed `Question` with that fingerprint:

- never seen → the question, then every answer already on the platform;
- text changed → an `edit` message (`context.edited`);
- a new answer → an echo (`direction="out"`, `flags.echo`), unless it is ours (the caller
  drops those using the answer ledger), or a platform-CS note;
- newly deleted (11st `dispYn=N`) → a `deleted` message.

Questions that vanish from the list are found by the cursor's revisit pass
(`inbox_core.window_cursor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox_core.schema import InboundMessage
from inbox_core.window_cursor import Tracked
from inbox_ingest_marketplace.channels.board import (
    Board,
    Question,
    answer_echo,
    deleted_message,
    edited_message,
    platform_cs_message,
    text_hash,
)


@dataclass(frozen=True, kw_only=True)
class Known(Tracked):
    """A question's fingerprint in the cursor (`created`, `misses`, `deleted`: `Tracked`)."""

    text: str  # hash of the question text; "" = adopted from an older cursor, not compared
    answers: tuple[str, ...] = ()  # hashes of answers (and CS notes) already recorded
    customer: str = "unknown"

    def dump(self) -> list[Any]:
        return [
            self.created,
            self.text,
            list(self.answers),
            self.customer,
            self.misses,
            int(self.deleted),
        ]

    @classmethod
    def load(cls, raw: Any) -> Known | None:
        try:
            created, text, answers, customer, misses, deleted = raw
            return cls(
                created=int(created),
                text=str(text),
                answers=tuple(str(a) for a in answers),
                customer=str(customer),
                misses=int(misses),
                deleted=bool(deleted),
            )
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Change:
    message: InboundMessage
    # For an answer typed on the platform: the text hash, so the caller can drop our own.
    answer_hash: str | None = None


def diff(
    question: Question, known: Known | None, board: Board, now: datetime
) -> tuple[list[Change], Known]:
    """The messages to publish for this question, and its new fingerprint."""
    m = question.message
    changes: list[Change] = []
    adopted = known is not None and known.text == ""
    if known is None:
        changes.append(Change(m))
    elif not adopted and known.text != text_hash(m.text):
        changes.append(Change(edited_message(question, at=now)))
    recorded = set(known.answers) if known is not None else set()
    hashes: list[str] = []
    for answer in question.answers:
        ref = text_hash(answer.text)
        hashes.append(ref)
        if ref in recorded or adopted:
            continue
        recorded.add(ref)
        if answer.from_seller:
            changes.append(Change(answer_echo(question, answer, at=now), answer_hash=ref))
        else:
            changes.append(Change(platform_cs_message(question, answer, at=now)))
    was_deleted = known is not None and known.deleted
    if question.deleted and not was_deleted:
        if known is None:  # first seen already deleted: the question says so itself
            flagged = m.model_copy(update={"context": {**m.context, "deleted": True}})
            changes[0] = Change(flagged)
        else:
            changes.append(
                Change(
                    vanished(
                        known,
                        board=board,
                        question_id=question.question_id,
                        channel=m.channel,
                        account=m.account,
                        now=now,
                    )
                )
            )
    fingerprint = Known(
        created=int(m.received_at.timestamp()),
        text=text_hash(m.text),
        answers=tuple(dict.fromkeys([*(known.answers if known else ()), *hashes])),
        customer=m.customer.id,
        misses=0,
        deleted=question.deleted or was_deleted,
    )
    return changes, fingerprint


def vanished(
    known: Known, *, channel: str, account: str, board: Board, question_id: str, now: datetime
) -> InboundMessage:
    """The `deleted` message for a question that is gone (or flagged hidden)."""
    return deleted_message(channel, account, board, question_id, customer_id=known.customer, at=now)
