"""The rule set's fast paths decide exactly like the plain ones: keywords found once per field
(KeywordIndex) are the keywords `Keyword.found_in` finds, and a rule's quick test
(ConditionTest.holds) holds exactly when `Condition.explain` gives reasons, on every shipped
training message in several situations (VIP, returning, after hours, existing conversation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inbox_core.schema import Customer, InboundMessage
from inbox_router.conditions import MatchInput
from inbox_router.facts import ConversationFacts, CustomerFacts, MatchFacts
from inbox_router.labelled import TRAINING_FILES, load_examples
from inbox_router.learning import as_message
from inbox_router.normalise import FieldText, Keyword, KeywordIndex, Normaliser
from inbox_router.rules import RuleSet, load_rules, parse_rules
from inbox_router.settings import DEFAULT_RULES

AFTER_HOURS = datetime(2025, 9, 30, 13, 0, tzinfo=UTC)  # Tuesday 22:00 in Seoul
ODD_TEXTS = [
    "",
    "   ",
    "happy app user, apps and APPS",
    "55kg 1372 213725 kg",
    "money  back moneyback money\nback",
    "ＲＥＦＵＮＤ refunded 환블 베송",
    "배 송 언 제",
    "I will sue you. lawyer! sue-you",
]

# Every kind of condition, with keywords the default rules do not have.
EVERY_CONDITION = {
    "customers": {"vip": ["vip@example.com"]},
    "normalise": {"variants": {"pls": "please", "베송": "배송"}},
    "rules": [
        {"name": "kakao-vip", "when": {"channel": ["kakao"], "customer": {"vip": True}},
         "set": {"tags": ["a"]}, "continue": True},
        {"name": "account", "when": {"account": "shop", "keywords_any": ["please", "kg"]},
         "set": {"tags": ["b"]}, "continue": True},
        {"name": "returning", "when": {"customer": {"returning": True, "contacted_within": "2h"}},
         "set": {"tags": ["c"]}, "continue": True},
        {"name": "after-hours", "when": {"business_hours": False, "keywords_none": ["환불"]},
         "set": {"tags": ["d"]}, "continue": True},
        {"name": "both", "when": {"keywords_all": ["배송", "언제"], "in": ["subject", "text"]},
         "set": {"tags": ["e"]}, "continue": True},
        {"name": "subject", "when": {"keywords_any": ["money back", "문의"], "in": ["subject"]},
         "set": {"tags": ["f"]}, "continue": True},
        {"name": "pattern", "when": {"regex": ["\\d{4,}", "사기(?:꾼|죄)"], "in": ["text"]},
         "set": {"tags": ["g"]}, "continue": True},
        {"name": "product", "when": {"keywords": {"any": ["니트"], "none": ["refund"]},
                                     "in": ["product"]},
         "set": {"tags": ["h"]}, "continue": True},
        {"name": "everything", "set": {"tags": ["i"]}, "continue": True},
    ],
}  # fmt: skip


def _messages() -> list[InboundMessage]:
    examples = [e for path in TRAINING_FILES for e in load_examples(path)]
    messages = [as_message(e, i) for i, e in enumerate(examples)]
    odd = [
        messages[0].model_copy(
            update={
                "text": text,
                "subject": ODD_TEXTS[-1 - i] or None,
                "context": {"product_name": "니트 " + text},
                "channel": "kakao" if i % 2 else "mail",
                "customer": Customer(id="v", email="VIP@example.com"),
            }
        )
        for i, text in enumerate(ODD_TEXTS)
    ]
    return messages + odd


def _situations(message: InboundMessage, i: int) -> list[tuple[InboundMessage, MatchFacts]]:
    last = AFTER_HOURS - timedelta(hours=1)
    return [
        (message, MatchFacts()),
        (
            message.model_copy(update={"received_at": AFTER_HOURS}),
            MatchFacts(
                customer=CustomerFacts(
                    id=f"c{i}", vip=True, earlier_conversations=2, last_other_contact_at=last
                ),
                conversation=ConversationFacts(id="x", number=7, created=False),
            ),
        ),
    ]


def _fields(texts: list[str], normaliser: Normaliser) -> list[FieldText]:
    return [FieldText("text", normaliser.spaced(t), normaliser.compact(t)) for t in texts]


@pytest.mark.parametrize(
    "rules", [load_rules(DEFAULT_RULES), parse_rules(EVERY_CONDITION)], ids=["default", "every"]
)
def test_keywords_found_once_per_field_are_the_keywords_each_would_find(rules: RuleSet) -> None:
    normaliser = rules._compiled.normaliser
    keywords = [k for rule in rules.rules for k in rule.when.keywords_used]
    extra = ["money back", "kg", "1372", "sue you", "app", "배송 언제"]
    keywords += [Keyword.compile(k, normaliser) for k in extra]
    index = KeywordIndex(keywords)
    texts = [m.text for m in _messages()] + [m.subject or "" for m in _messages()]
    for field in _fields(texts, normaliser):
        found = index.found_in(field)
        assert {k.key for k in keywords if k.found_in(field)} == found, field
        assert found <= {k.key for k in keywords}


@pytest.mark.parametrize(
    "rules", [load_rules(DEFAULT_RULES), parse_rules(EVERY_CONDITION)], ids=["default", "every"]
)
def test_a_rules_quick_test_holds_exactly_when_it_explains_a_match(rules: RuleSet) -> None:
    held: dict[str, int] = dict.fromkeys((r.name for r in rules.rules), 0)
    for i, plain in enumerate(_messages()):
        for message, facts in _situations(plain, i):
            vip = rules.customers.is_vip(message, facts)
            compiled = rules._compiled
            data = MatchInput(message, facts, compiled.normaliser, vip, compiled.keywords)
            for rule, test in compiled.tests:
                holds = test.holds(data)
                assert holds == (rule.when.explain(data) is not None), (rule.name, message.text)
                held[rule.name] += holds
    never: list[Any] = [name for name, n in held.items() if n == 0]
    assert not never, f"rules that never matched test nothing: {never}"
