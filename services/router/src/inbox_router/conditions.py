"""Rule conditions: what a message must look like for a rule to match, and why it did.

Every condition given must hold. Keywords and patterns look in the fields named by `in`
(subject, text, product context), on text normalised by `normalise.Normaliser`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from inbox_core.schema import InboundMessage
from inbox_core.sla import Duration
from inbox_router.facts import MatchFacts
from inbox_router.normalise import FieldText, Keyword, KeywordIndex, Normaliser

PRODUCT_CONTEXT_KEYS: Final = ("product_name", "productName", "product")


def listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def not_blank(values: list[str] | None) -> list[str] | None:
    if values is not None and any(not v.strip() for v in values):
        raise ValueError("entries must not be blank")
    return values


StrList = Annotated[list[str] | None, BeforeValidator(listify), AfterValidator(not_blank)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SearchField(StrEnum):
    SUBJECT = "subject"
    TEXT = "text"
    PRODUCT = "product"


class KeywordSet(Strict):
    any: StrList = None  # at least one of them
    all: StrList = None  # every one of them
    none: StrList = None  # none of them


class CustomerCondition(Strict):
    vip: bool | None = None
    returning: bool | None = None  # the customer has other conversations
    contacted_within: Duration | None = None  # another conversation active within this window


class MatchInput:
    """One message prepared for matching against one rule set: its fields normalised and the
    rule set's keywords found in each, once for all the rules."""

    def __init__(
        self,
        message: InboundMessage,
        facts: MatchFacts,
        normaliser: Normaliser,
        vip: bool,
        keywords: KeywordIndex,
    ) -> None:
        self.message = message
        self.facts = facts
        self.vip = vip
        self.business_open = facts.calendar.is_open(message.received_at)
        product = " ".join(
            str(message.context[k]) for k in PRODUCT_CONTEXT_KEYS if message.context.get(k)
        )
        raw = {
            SearchField.SUBJECT: message.subject or "",
            SearchField.TEXT: message.text,
            SearchField.PRODUCT: product,
        }
        self.fields = {
            name: FieldText(name.value, normaliser.spaced(text), normaliser.compact(text))
            for name, text in raw.items()
        }
        self.found = {name: keywords.found_in(text) for name, text in self.fields.items()}


class Condition(Strict):
    """All given conditions must hold; an empty condition matches every message."""

    channel: StrList = None
    account: StrList = None
    customer: CustomerCondition | None = None
    keywords: KeywordSet | None = None
    regex: StrList = None  # any of the patterns, on the spaced normalised text
    in_: list[SearchField] = Field(
        default_factory=lambda: list(SearchField), alias="in", min_length=1
    )
    business_hours: bool | None = None

    _test: ConditionTest | None = PrivateAttr(None)  # compiled by the rule set

    @model_validator(mode="before")
    @classmethod
    def _flat_keywords(cls, data: Any) -> Any:
        """`keywords_any: [...]` (and _all, _none) are short for `keywords: {any: [...]}`."""
        if not isinstance(data, dict):
            return data
        flat = {k: data[k] for k in ("keywords_any", "keywords_all", "keywords_none") if k in data}
        if not flat:
            return data
        data = {k: v for k, v in data.items() if k not in flat}
        keywords = dict(data.get("keywords") or {})
        for key, value in flat.items():
            keywords[key.removeprefix("keywords_")] = value
        data["keywords"] = keywords
        return data

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: list[str] | None) -> list[str] | None:
        for pattern in patterns or []:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"invalid regular expression {pattern!r}: {err}") from err
        return patterns

    def compile(self, normaliser: Normaliser) -> ConditionTest:
        self._test = ConditionTest(self, normaliser)
        return self._test

    @property
    def compiled(self) -> ConditionTest:
        if self._test is None:
            raise RuntimeError("the condition was not compiled (RuleSet compiles its rules)")
        return self._test

    @property
    def keywords_used(self) -> list[Keyword]:
        test = self.compiled
        return [*test.any_words, *test.all_words, *test.none_words]

    def _where(self, keyword: Keyword, data: MatchInput) -> str | None:
        key = keyword.key
        for name in self.in_:
            if key in data.found[name]:
                return name.value
        return None

    def explain(self, data: MatchInput) -> list[str] | None:
        """Why the condition holds, or None when it does not."""
        message, why = data.message, []
        test = self.compiled  # its plain attributes: pydantic's private ones are slow to read
        if self.channel is not None:
            if message.channel not in self.channel:
                return None
            why.append(f"channel {message.channel}")
        if self.account is not None:
            if message.account not in self.account:
                return None
            why.append(f"account {message.account}")
        if self.customer is not None:
            customer_why = self._explain_customer(self.customer, data)
            if customer_why is None:
                return None
            why.extend(customer_why)
        if self.business_hours is not None:
            if data.business_open != self.business_hours:
                return None
            why.append("during business hours" if data.business_open else "outside business hours")
        if test.any_words:
            found = next(((k, w) for k in test.any_words if (w := self._where(k, data))), None)
            if found is None:
                return None
            why.append(f"keyword '{found[0].text}' in {found[1]}")
        if test.all_words:
            places = [(k, self._where(k, data)) for k in test.all_words]
            if not all(w for _, w in places):
                return None
            why.append("keywords " + " + ".join(f"'{k.text}' in {w}" for k, w in places))
        if test.none_words and any(self._where(k, data) for k in test.none_words):
            return None
        if test.patterns:
            hit = next(
                (
                    (p.pattern, m.group(0), name.value)
                    for p in test.patterns
                    for name in self.in_
                    if (m := p.search(data.fields[name].spaced))
                ),
                None,
            )
            if hit is None:
                return None
            why.append(f"pattern '{hit[0]}' found '{hit[1]}' in {hit[2]}")
        return why

    @staticmethod
    def _explain_customer(condition: CustomerCondition, data: MatchInput) -> list[str] | None:
        customer, why = data.facts.customer, []
        if condition.vip is not None:
            if data.vip != condition.vip:
                return None
            why.append("VIP customer" if data.vip else "not a VIP customer")
        if condition.returning is not None:
            returning = customer.earlier_conversations > 0
            if returning != condition.returning:
                return None
            why.append("returning customer" if returning else "first contact")
        if condition.contacted_within is not None:
            if not customer.contacted_within(condition.contacted_within, data.message.received_at):
                return None
            hours = condition.contacted_within.total_seconds() / 3600
            why.append(f"another conversation within {hours:g} h")
        return why


class ConditionTest:
    """Whether a condition holds, without saying why: most rules do not match most messages,
    so the rule set asks this first and `Condition.explain` (the same tests, with reasons)
    only for the rules that match. Plain attributes: pydantic's private ones are slow to
    read, and this runs for every rule and message."""

    __slots__ = (
        "account",
        "all",
        "all_words",
        "any",
        "any_words",
        "business_hours",
        "channel",
        "condition",
        "fields",
        "none",
        "none_words",
        "patterns",
    )

    def __init__(self, condition: Condition, normaliser: Normaliser) -> None:
        words = condition.keywords or KeywordSet()
        self.any_words = [Keyword.compile(k, normaliser) for k in words.any or []]
        self.all_words = [Keyword.compile(k, normaliser) for k in words.all or []]
        self.none_words = [Keyword.compile(k, normaliser) for k in words.none or []]
        self.patterns = [re.compile(p, re.IGNORECASE) for p in condition.regex or []]
        self.condition = condition
        self.channel = None if condition.channel is None else frozenset(condition.channel)
        self.account = None if condition.account is None else frozenset(condition.account)
        self.business_hours = condition.business_hours
        self.fields = tuple(condition.in_)
        self.any = frozenset(k.key for k in self.any_words)
        self.all = tuple(k.key for k in self.all_words)
        self.none = frozenset(k.key for k in self.none_words)

    def holds(self, data: MatchInput) -> bool:
        message = data.message
        if self.channel is not None and message.channel not in self.channel:
            return False
        if self.account is not None and message.account not in self.account:
            return False
        customer = self.condition.customer
        if customer is not None and Condition._explain_customer(customer, data) is None:
            return False
        if self.business_hours is not None and data.business_open != self.business_hours:
            return False
        found = [data.found[name] for name in self.fields]
        if self.any and all(self.any.isdisjoint(f) for f in found):
            return False
        if self.all and not all(any(k in f for f in found) for k in self.all):
            return False
        if self.none and not all(self.none.isdisjoint(f) for f in found):
            return False
        if self.patterns:
            texts = [data.fields[name].spaced for name in self.fields]
            return any(p.search(t) for p in self.patterns for t in texts)
        return True
