"""Training the routing model in a child process, so the router never imports scikit-learn.

`python -m inbox_router.trainer` reads `{"corrections": [{"text", "subject", "channel",
"to_category"}, ...]}` on stdin, trains on the shipped training files plus those corrections,
and writes the scorer's arrays (an .npz, no pickle) on stdout. The router starts it at start
and at retrain (inbox_router.learning) and keeps only the numpy scorer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import orjson

from inbox_router.labelled import Example, training_examples
from inbox_router.model import ModelParams, RoutingModel
from inbox_router.scorer import Scorer


def correction_examples(docs: Iterable[dict[str, Any]], params: ModelParams) -> list[Example]:
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


def train_model(corrections: Iterable[dict[str, Any]]) -> RoutingModel:
    params = ModelParams()
    return RoutingModel.train(training_examples() + correction_examples(corrections, params))


def train_scorer(corrections: Iterable[dict[str, Any]]) -> Scorer:
    """In this process (tests, tuning): the scorer the child process would send."""
    return Scorer(train_model(corrections).arrays())


def main() -> None:
    request = orjson.loads(sys.stdin.buffer.read() or b"{}")
    model = train_model(request.get("corrections") or [])
    sys.stdout.buffer.write(Scorer.to_bytes(model.arrays()))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
