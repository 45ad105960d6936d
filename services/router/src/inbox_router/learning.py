"""Training, measuring and retraining the routing model.

- Training runs in a child process (`python -m inbox_router.trainer`), which sends back the
  numpy scorer's arrays: the router itself never imports scikit-learn (memory).
- The router trains its model at start from the shipped labelled files plus the corrections
  accepted by the last retrain (`routing_state` document `model`: its version and the time up
  to which corrections count). Training is deterministic, so every replica that trains from
  the same data has the same model.
- `retrain` trains a candidate from the shipped files plus every correction agents made
  (notifier-owned `routing_corrections`, read only here), measures rules + candidate on the
  held-out file, and refuses it when it routes fewer held-out messages right than the rules +
  current model (by more than RETRAIN_TOLERANCE of them); otherwise it records a new
  version, which every router picks up.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from inbox_core.errors import InboxError
from inbox_core.logging import get_logger
from inbox_core.schema import Customer, InboundMessage, utcnow
from inbox_core.store import ROUTING_CORRECTIONS, ROUTING_STATE
from inbox_router.labelled import Evaluation, Example, heldout_examples, summary
from inbox_router.rules import Classifier, RuleSet
from inbox_router.scorer import Scorer

log = get_logger(__name__)

MODEL_DOC: Final = "model"
# Business hours (Tuesday 11:00 in Seoul), so the after-hours rule stays out of the way.
MEASURED_AT: Final = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
TRAIN_TIMEOUT_S: Final = 600.0  # seconds on a quiet machine; much longer on a loaded one
# A retrained model may route this share of the held-out messages fewer right (2 of 262) and
# still be accepted: one or two messages either way is noise, and refusing for it would throw
# away what agents taught; careless corrections cost far more (tens of messages).
RETRAIN_TOLERANCE: Final = 0.01
CORRECTION_FIELDS: Final = ("text", "subject", "channel", "to_category")


class ModelTrainingError(InboxError):
    """The child process that trains the model failed."""


def as_message(example: Example, index: int) -> InboundMessage:
    return InboundMessage(
        channel=example.channel,
        account="shop",
        external_id=f"labelled-{index}",
        thread_keys=[f"labelled:{index}"],
        customer=Customer(id=f"c{index}"),
        subject=example.subject,
        text=example.text,
        context={"product_name": example.product} if example.product else {},
        received_at=MEASURED_AT,
    )


def evaluate(
    rules: RuleSet, model: Classifier | None, examples: list[Example] | None = None
) -> Evaluation:
    """Rules (+ model) on labelled examples: the category each one gets. Default: held-out."""
    examples = heldout_examples() if examples is None else examples
    return Evaluation(
        [
            (e.label, rules.decide(as_message(e, i), model=model).category)
            for i, e in enumerate(examples)
        ]
    )


async def load_corrections(db: Any, until: datetime | None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {} if until is None else {"at": {"$lte": until}}
    return [d async for d in db[ROUTING_CORRECTIONS].find(query)]


_shipped: list[Scorer] = []  # trained from the shipped files only: one per process


async def train(corrections: list[dict[str, Any]]) -> Scorer:
    """The scorer of a model trained (in a child process) on the shipped files plus
    `corrections`. Deterministic: every replica trained from the same data scores alike."""
    if not corrections and _shipped:
        return _shipped[0]
    request = {"corrections": [{k: d.get(k) for k in CORRECTION_FIELDS} for d in corrections]}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inbox_router.trainer",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            child.communicate(orjson.dumps(request)), timeout=TRAIN_TIMEOUT_S
        )
    except BaseException:  # a timeout or cancellation: the child must not outlive us
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if child.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ModelTrainingError(f"training the routing model failed: {tail[0]}")
    scorer = await asyncio.to_thread(Scorer.from_bytes, out)
    if not corrections and not _shipped:
        _shipped.append(scorer)
    return scorer


@dataclass
class ModelHolder:
    """The router's current model and the version it was trained for."""

    model: Scorer | None = None
    version: int = 0
    heldout: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self, db: Any) -> None:
        """Train for the recorded version (at start, and when another process retrained)."""
        doc = await db[ROUTING_STATE].find_one({"_id": MODEL_DOC}) or {}
        version = int(doc.get("version", 0))
        if self.model is not None and version == self.version:
            return
        async with self.lock:
            until = doc.get("corrections_until")
            corrections = await load_corrections(db, until) if until else []
            self.model = await train(corrections)
            self.version = version
            self.heldout = dict(doc.get("heldout") or {})
        log.info("routing model trained", version=version, corrections=len(corrections))


@dataclass
class RetrainResult:
    accepted: bool
    message: str
    version: int
    corrections: int
    heldout: dict[str, Any]
    previous: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "message": self.message,
            "version": self.version,
            "corrections": self.corrections,
            "heldout": self.heldout,
            "previous": self.previous,
        }


async def retrain(db: Any, rules: RuleSet, holder: ModelHolder) -> RetrainResult:
    """Train from the shipped set + all corrections; keep it only if held-out does not drop."""
    await holder.load(db)
    now = utcnow()
    corrections = await load_corrections(db, now)
    async with holder.lock:
        candidate = await train(corrections)
        new = await asyncio.to_thread(evaluate, rules, candidate)
        old = await asyncio.to_thread(evaluate, rules, holder.model)
        allowed = int(RETRAIN_TOLERANCE * len(new.pairs))
        if new.correct < old.correct - allowed:
            return RetrainResult(
                accepted=False,
                message=(
                    f"refused: the retrained model routes {new.correct} of {len(new.pairs)} "
                    f"held-out messages right, the current one {old.correct} (at most "
                    f"{allowed} fewer allowed); the current model stays"
                ),
                version=holder.version,
                corrections=len(corrections),
                heldout=summary(new),
                previous=summary(old),
            )
        version = holder.version + 1
        await db[ROUTING_STATE].update_one(
            {"_id": MODEL_DOC},
            {
                "$set": {
                    "version": version,
                    "corrections_until": now,
                    "corrections": len(corrections),
                    "trained_at": now,
                    "heldout": summary(new),
                }
            },
            upsert=True,
        )
        holder.model, holder.version, holder.heldout = candidate, version, summary(new)
    return RetrainResult(
        accepted=True,
        message=(
            f"model version {version} trained with {len(corrections)} corrections: "
            f"{new.correct} of {len(new.pairs)} held-out messages right "
            f"(before: {old.correct})"
        ),
        version=version,
        corrections=len(corrections),
        heldout=summary(new),
        previous=summary(old),
    )
