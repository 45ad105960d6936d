"""The shipped example FAQ entries (faq_examples.yaml) and the matcher's figures on a
labelled set: auto precision, coverage and top-3 accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inbox_core.faq_matcher import FaqMatcher

NO_ENTRY = "-"


def example_entries() -> list[dict[str, Any]]:
    """The example entries as dicts: key, question, examples, answer, active_from/until."""
    text = resources.files("inbox_core").joinpath("faq_examples.yaml").read_text("utf-8")
    entries: list[dict[str, Any]] = yaml.safe_load(text)["entries"]
    return entries


def example_matcher(**kwargs: Any) -> FaqMatcher:
    return FaqMatcher(
        ((e["key"], [e["question"], *e["examples"]]) for e in example_entries()), **kwargs
    )


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(label, text) rows of a TSV file; '#' lines and the header are skipped."""
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("label\t"):
            continue
        label, _, text = line.partition("\t")
        rows.append((label.strip(), text.strip()))
    return rows


@dataclass(frozen=True)
class Figures:
    messages: int
    with_entry: int
    auto: int
    auto_correct: int
    top3_correct: int

    @property
    def auto_precision(self) -> float:
        return self.auto_correct / self.auto if self.auto else 1.0

    @property
    def coverage(self) -> float:
        """Share of messages that have an entry answered automatically and rightly."""
        return self.auto_correct / self.with_entry if self.with_entry else 0.0

    @property
    def top3(self) -> float:
        return self.top3_correct / self.with_entry if self.with_entry else 0.0

    def __str__(self) -> str:
        return (
            f"{self.messages} messages ({self.with_entry} with an entry): "
            f"auto precision {self.auto_precision:.1%} ({self.auto_correct}/{self.auto}), "
            f"coverage {self.coverage:.1%}, top-3 {self.top3:.1%}"
        )


def evaluate(matcher: FaqMatcher, rows: list[tuple[str, str]]) -> tuple[Figures, list[str]]:
    """The figures and, for reading, one line per mistake."""
    auto = auto_correct = top3 = with_entry = 0
    mistakes = []
    for label, text in rows:
        result = matcher.match(text)
        keys = [m.key for m in result.matches]
        best = keys[0] if keys else None
        if label != NO_ENTRY:
            with_entry += 1
            top3 += label in keys
            if label not in keys:
                mistakes.append(f"top3 miss {label}: {text} -> {result.matches}")
        if result.auto:
            auto += 1
            if best == label:
                auto_correct += 1
            else:
                mistakes.append(f"WRONG AUTO {label}: {text} -> {result.matches}")
        elif label != NO_ENTRY:
            mistakes.append(f"not auto {label}: {text} -> {result.matches[:2]}")
    return Figures(len(rows), with_entry, auto, auto_correct, top3), mistakes


def example_docs(now: datetime) -> list[dict[str, Any]]:
    """The example entries as `faq` documents (the key is the id)."""
    docs = []
    for e in example_entries():
        doc: dict[str, Any] = {
            "_id": e["key"],
            "question": e["question"],
            "examples": e["examples"],
            "answer": e["answer"],
            "channels": e.get("channels"),
            "auto_answer": e.get("auto_answer", True),
            "active_from": _when(e.get("active_from")),
            "active_until": _when(e.get("active_until")),
            "created_at": now,
            "updated_at": now,
        }
        docs.append(doc)
    return docs


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
