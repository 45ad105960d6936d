"""The default rules against a labelled set of realistic customer messages.

Accuracy must stay at or above 85%; the confusion table is printed (`pytest -s`) so a rule
change shows what it fixed and what it broke.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from inbox_core.schema import Customer, InboundMessage, Priority, RoutingDecision
from inbox_router.rules import PRIORITY_RANK, RuleSet, load_rules
from inbox_router.settings import DEFAULT_RULES

FIXTURE = Path(__file__).parent.parent / "fixtures" / "labelled_messages.yaml"
LABELS = ["shipping", "refund", "restock", "product", "defect", "identity", "app", "general"]
LABEL_OF_TAG = {
    "배송": "shipping",
    "환불·반품·교환": "refund",
    "재입고": "restock",
    "상품문의": "product",
    "불량·누락·오배송": "defect",
    "본인인증": "identity",
    "앱": "app",
}
MIN_ACCURACY = 0.85
HOLDOUT_FLOOR = 0.60
# A Tuesday 11:00 in Seoul: business hours, so the after-hours rule stays out of the way.
DURING_HOURS = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)


def _load() -> list[dict[str, Any]]:
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return list(data["messages"])


def _message(case: dict[str, Any], index: int) -> InboundMessage:
    context = {"product_name": case["product"]} if "product" in case else {}
    return InboundMessage(
        channel=case.get("channel", "mail"),
        account="shop",
        external_id=f"labelled-{index}",
        thread_keys=[f"labelled:{index}"],
        customer=Customer(id=f"c{index}"),
        subject=case.get("subject"),
        text=case["text"],
        context=context,
        received_at=DURING_HOURS,
    )


def predicted_label(decision: RoutingDecision) -> str:
    """The topic of the first topic tag, or general."""
    return next((LABEL_OF_TAG[t] for t in decision.tags if t in LABEL_OF_TAG), "general")


def confusion_table(pairs: list[tuple[str, str]]) -> str:
    counts = Counter(pairs)
    width = max(len(label) for label in LABELS) + 1
    header = "expected \\ got".ljust(width + 6) + "".join(f"{g[:8]:>9}" for g in LABELS)
    lines = [header + "   recall"]
    for expected in LABELS:
        row = [counts[(expected, got)] for got in LABELS]
        total = sum(row)
        recall = counts[(expected, expected)] / total if total else 0.0
        lines.append(
            expected.ljust(width + 6) + "".join(f"{n:>9}" for n in row) + f"   {recall:6.1%}"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(DEFAULT_RULES)


def test_labelled_set_is_large_and_varied() -> None:
    cases = _load()
    assert len(cases) >= 150
    assert {c["label"] for c in cases} == set(LABELS)
    assert min(Counter(c["label"] for c in cases).values()) >= 15
    assert len({(c["text"], c.get("channel")) for c in cases}) == len(cases), "duplicates"


def _accuracy(pairs: list[tuple[str, str]]) -> float:
    return sum(1 for expected, got in pairs if expected == got) / len(pairs)


def test_default_rules_classify_the_labelled_set(rules: RuleSet) -> None:
    cases = _load()
    pairs: list[tuple[str, str]] = []
    by_part: dict[str, list[tuple[str, str]]] = {}
    misses: list[str] = []
    for index, case in enumerate(cases):
        got = predicted_label(rules.decide(_message(case, index)))
        part = case.get("set", "tuning")
        pairs.append((case["label"], got))
        by_part.setdefault(part, []).append((case["label"], got))
        if got != case["label"]:
            misses.append(f"  [{part}] {case['label']:>8} → {got:<8} {case['text']}")
    accuracy = _accuracy(pairs)
    parts = ", ".join(f"{p} {len(v)}: {_accuracy(v):.1%}" for p, v in by_part.items())
    print(f"\ndefault rules on {len(pairs)} labelled messages: {accuracy:.1%} ({parts})")
    print(confusion_table(pairs))
    print("misclassified:\n" + "\n".join(misses))
    assert accuracy >= MIN_ACCURACY
    # holdout-2 was never used to tune the rules (see the fixture): a floor against
    # changes that fit the tuned messages better but generalise worse.
    assert _accuracy(by_part["holdout-2"]) >= HOLDOUT_FLOOR


def test_escalation_words_make_exactly_the_labelled_messages_urgent(rules: RuleSet) -> None:
    """소비자원/신고/고소/사기 … make a message urgent; nothing else in the set is urgent
    (e.g. "사기 전에" — before buying — is not fraud)."""
    cases = _load()
    expected = {i for i, c in enumerate(cases) if c.get("priority") == "urgent"}
    got = {
        i for i, c in enumerate(cases) if rules.decide(_message(c, i)).priority == Priority.URGENT
    }
    assert len(expected) >= 8
    assert got == expected, [cases[i]["text"] for i in got ^ expected]


def test_default_rules_make_recognised_defects_high_priority(rules: RuleSet) -> None:
    for index, case in enumerate(_load()):
        decision = rules.decide(_message(case, index))
        if predicted_label(decision) == "defect":
            assert PRIORITY_RANK[decision.priority] >= PRIORITY_RANK[Priority.HIGH], case["text"]
