"""Labelled messages (the shipped training files and the held-out files) and how routing is
scored on them. Pure Python: the router reads these without the training libraries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

DATA_DIR: Final = Path(__file__).with_name("data")
TRAINING_FILES: Final = (
    DATA_DIR / "labelled_messages.yaml",
    DATA_DIR / "labelled_fresh.yaml",
    DATA_DIR / "labelled_more.yaml",
    DATA_DIR / "labelled_general.yaml",  # `general` and its borderline neighbours (LABELLING.md)
)
# Read by the accuracy test and by `retrain` (to refuse a model that routes fewer right).
HELDOUT_FILE: Final = DATA_DIR / "heldout_messages.yaml"
# Read only by the accuracy report (test_labelled_messages): never by training, tuning or retrain.
SECOND_HELDOUT_FILE: Final = DATA_DIR / "heldout_second.yaml"
# The same, written fresh from LABELLING.md alone by someone who read no other data file.
THIRD_HELDOUT_FILE: Final = DATA_DIR / "heldout_third.yaml"
FOURTH_HELDOUT_FILE: Final = DATA_DIR / "heldout_fourth.yaml"
HELDOUT_FILES: Final = (HELDOUT_FILE, SECOND_HELDOUT_FILE, THIRD_HELDOUT_FILE, FOURTH_HELDOUT_FILE)


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    subject: str | None = None
    channel: str = "mail"
    product: str | None = None
    weight: float = 1.0
    priority: str | None = None


def load_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Example(
            text=str(case["text"]),
            label=str(case["label"]),
            subject=case.get("subject"),
            channel=str(case.get("channel", "mail")),
            product=case.get("product"),
            priority=case.get("priority"),
        )
        for case in data["messages"]
    ]


def heldout_examples() -> list[Example]:
    return load_examples(HELDOUT_FILE)


def training_examples() -> list[Example]:
    """The shipped training files, without any text that is also in a held-out file."""
    held = {e.text for path in HELDOUT_FILES for e in load_examples(path)}
    return [e for path in TRAINING_FILES for e in load_examples(path) if e.text not in held]


def describe(guesses: Iterable[tuple[str, float]], top: int = 2) -> str:
    """'restock 0.71, product 0.18'"""
    return ", ".join(f"{label} {p:.2f}" for label, p in list(guesses)[:top])


@dataclass
class Evaluation:
    pairs: list[tuple[str, str]]  # (expected, got)

    @property
    def correct(self) -> int:
        return sum(1 for expected, got in self.pairs if expected == got)

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.pairs) if self.pairs else 0.0

    def recall(self) -> dict[str, float]:
        totals = Counter(expected for expected, _ in self.pairs)
        hits = Counter(expected for expected, got in self.pairs if expected == got)
        return {label: hits[label] / n for label, n in sorted(totals.items())}

    def precision(self) -> dict[str, float]:
        """Of the messages given each category, the share that belong there."""
        given = Counter(got for _, got in self.pairs)
        hits = Counter(expected for expected, got in self.pairs if expected == got)
        return {label: hits[label] / n for label, n in sorted(given.items())}

    def table(self, labels: Sequence[str]) -> str:
        """The confusion table, expected in rows, got in columns, with recall per row and
        precision per column."""
        counts = Counter(self.pairs)
        short = {label: label[:8] for label in labels}
        lines = [
            "expected \\ got".ljust(24) + "".join(f"{short[g]:>9}" for g in labels) + "  recall"
        ]
        for expected in labels:
            row = [counts[(expected, got)] for got in labels]
            total = sum(row)
            recall = counts[(expected, expected)] / total if total else 0.0
            lines.append(expected.ljust(24) + "".join(f"{n:>9}" for n in row) + f"  {recall:6.1%}")
        precision = self.precision()
        lines.append(
            "precision".ljust(24) + "".join(f"{precision.get(g, 0.0):>9.1%}" for g in labels)
        )
        return "\n".join(lines)


def summary(result: Evaluation) -> dict[str, Any]:
    return {
        "accuracy": round(result.accuracy, 4),
        "correct": result.correct,
        "total": len(result.pairs),
        "recall": {k: round(v, 4) for k, v in result.recall().items()},
    }
