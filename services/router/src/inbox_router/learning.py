"""Training, measuring and retraining the routing model.

- The router trains its model at start from the shipped labelled files plus the corrections
  accepted by the last retrain (`routing_state` document `model`: its version and the time up
  to which corrections count). Training is deterministic, so every replica that trains from
  the same data has the same model.
- `retrain` trains a candidate from the shipped files plus every correction agents made
  (notifier-owned `routing_corrections`, read only here), measures rules + candidate on the
  held-out file, and refuses it when it routes fewer held-out messages right than the rules +
  current model; otherwise it records a new version, which every router picks up.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from inbox_core.logging import get_logger
from inbox_core.schema import Customer, InboundMessage, utcnow
from inbox_core.store import ROUTING_CORRECTIONS, ROUTING_STATE
from inbox_router.model import (
    Evaluation,
    Example,
    ModelParams,
    RoutingModel,
    heldout_examples,
    summary,
    training_examples,
)
from inbox_router.rules import RuleSet

log = get_logger(__name__)

MODEL_DOC: Final = "model"
# Business hours (Tuesday 11:00 in Seoul), so the after-hours rule stays out of the way.
MEASURED_AT: Final = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)


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
    rules: RuleSet, model: RoutingModel | None, examples: list[Example] | None = None
) -> Evaluation:
    """Rules (+ model) on labelled examples: the category each one gets. Default: held-out."""
    examples = heldout_examples() if examples is None else examples
    return Evaluation(
        [
            (e.label, rules.decide(as_message(e, i), model=model).category)
            for i, e in enumerate(examples)
        ]
    )


def correction_examples(docs: list[dict[str, Any]], params: ModelParams) -> list[Example]:
    return [
        Example(
            text=str(d.get("text") or ""),
            label=str(d["to_category"]),
            subject=d.get("subject"),
            channel=str(d.get("channel") or "mail"),
            weight=params.correction_weight,
        )
        for d in docs
        if d.get("to_category") and (d.get("text") or d.get("subject"))
    ]


async def load_corrections(db: Any, until: datetime | None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {} if until is None else {"at": {"$lte": until}}
    return [d async for d in db[ROUTING_CORRECTIONS].find(query)]


@functools.cache
def _shipped_model(params: ModelParams) -> RoutingModel:
    # Deterministic and read-only once trained: one per process serves every router (tests
    # start many) until corrections are accepted.
    return RoutingModel.train(training_examples(), params)


def train(corrections: list[dict[str, Any]], params: ModelParams | None = None) -> RoutingModel:
    params = params or ModelParams()
    extra = correction_examples(corrections, params)
    if not extra:
        return _shipped_model(params)
    return RoutingModel.train(training_examples() + extra, params)


@dataclass
class ModelHolder:
    """The router's current model and the version it was trained for."""

    model: RoutingModel | None = None
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
            self.model = await asyncio.to_thread(train, corrections)
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
        candidate = await asyncio.to_thread(train, corrections)
        new = await asyncio.to_thread(evaluate, rules, candidate)
        old = await asyncio.to_thread(evaluate, rules, holder.model)
        if new.correct < old.correct:
            return RetrainResult(
                accepted=False,
                message=(
                    f"refused: the retrained model routes {new.correct} of {len(new.pairs)} "
                    f"held-out messages right, the current one {old.correct}; "
                    "the current model stays"
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
