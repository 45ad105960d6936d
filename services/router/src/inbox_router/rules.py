"""The rules engine: a YAML file validated by pydantic, evaluated in order.

Rules are tried top to bottom. A rule whose conditions all hold *matches*: it adds its
actions and stops the evaluation, unless it says `continue: true`, in which case later rules
are tried too. How actions combine when several rules match:

- team, category, assignee, auto-reply: the first matching rule that sets one wins;
- priority: the most urgent priority any matching rule sets (signals such as VIP or
  escalation words only ever raise it); the default when no rule sets one;
- tags: the union, in order; notes: every matching rule's note, one per line.

Every match is recorded in `decision.reasons` with why it matched ("rule shipping: keyword
'배송' in text"). The file format is documented in the service README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal, Protocol

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from inbox_core.errors import InboxError
from inbox_core.schema import Direction, InboundMessage, Priority, RoutingDecision
from inbox_core.sla import SlaPolicies
from inbox_router.conditions import (
    Condition,
    ConditionTest,
    MatchInput,
    Strict,
    StrList,
    listify,
    not_blank,
)
from inbox_router.facts import MatchFacts
from inbox_router.normalise import (
    DEFAULT_VARIANTS,
    KeywordIndex,
    Normaliser,
    normalise_phone,
    normalise_text,
)
from inbox_router.templates import check_template, render, template_values

__all__ = ["RuleSet", "RulesError", "load_rules", "normalise_text", "parse_rules"]

PRIORITY_RANK: Final = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


Template = Annotated[str, AfterValidator(check_template)]


class RulesError(InboxError):
    """The rules file cannot be used; the message says which rule and field."""


class Action(Strict):
    team: str | None = Field(None, min_length=1)
    # The routing category (see inbox_core.schema.CATEGORIES; a rules file may add its own).
    category: str | None = Field(None, min_length=1, pattern=r"^[a-z0-9_]+$")
    priority: Priority | None = None
    tags: Annotated[list[str], BeforeValidator(listify), AfterValidator(not_blank)] = Field(
        default_factory=list
    )
    assignee: str | None = Field(None, min_length=1)
    note: Template | None = None  # a private note for agents
    auto_reply: Template | None = None  # sent to the customer on a new conversation


class Rule(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    when: Condition = Field(default_factory=Condition)
    set: Action = Field(default_factory=Action)
    continue_: bool = Field(False, alias="continue")
    # Whether the routing model may change the category this rule sets. Unset: a rule that
    # matches on keywords or patterns only may be overridden when the model is sure and the
    # keyword match weak; a rule with channel, account, customer or business-hours conditions
    # was written on purpose and is never overridden. `fallback` rules only apply when the
    # model is not sure (e.g. "open-market questions are about a product").
    model: Literal["override", "keep", "fallback"] | None = None

    def model_may(self) -> str:
        if self.model is not None:
            return self.model
        when = self.when
        on_purpose = (
            when.channel is not None
            or when.account is not None
            or when.customer is not None
            or when.business_hours is not None
        )
        return "keep" if on_purpose else "override"


class Defaults(Strict):
    team: str = Field("general", min_length=1)
    priority: Priority = Priority.NORMAL


class Customers(Strict):
    # E-mail addresses, phone numbers, linked customer ids or channel:account:id identities.
    vip: StrList = None

    _emails: frozenset[str] = PrivateAttr(default_factory=frozenset)
    _phones: frozenset[str] = PrivateAttr(default_factory=frozenset)
    _ids: frozenset[str] = PrivateAttr(default_factory=frozenset)

    def model_post_init(self, __context: Any) -> None:
        entries = [v.strip() for v in self.vip or []]
        self._emails = frozenset(v.lower() for v in entries if "@" in v)
        self._phones = frozenset(
            phone
            for v in entries
            if _looks_like_phone(v) and (phone := normalise_phone(v)) and len(phone) >= 7
        )
        self._ids = frozenset(entries)

    def is_vip(self, message: InboundMessage, facts: MatchFacts) -> bool:
        if facts.customer.vip:
            return True
        customer = message.customer
        identity = f"{message.channel}:{message.account}:{customer.id}"
        return (
            bool(customer.email and customer.email.strip().lower() in self._emails)
            or bool(customer.phone and normalise_phone(customer.phone) in self._phones)
            or identity in self._ids
            or bool(facts.customer.id and facts.customer.id in self._ids)
        )


def _looks_like_phone(value: str) -> bool:
    return all(ch.isdigit() or ch in "+-() ." for ch in value)


class Normalisation(Strict):
    # Misspellings and variants replaced before matching; replaces the built-in list.
    variants: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_VARIANTS))


class ModelUse(Strict):
    """How the routing model's probabilities combine with the rules (see decide)."""

    enabled: bool = True
    decide_at: float = Field(0.4, ge=0, le=1)  # no category rule: the model decides from here
    override_at: float = Field(0.5, ge=0, le=1)  # the model's top guess overrides a keyword rule
    keep_at: float = Field(0.3, ge=0, le=1)  # ...unless it gives the rule's category this much
    # A keyword rule gives way to `general` ("everything else") from this probability, under
    # the same keep_at condition (a stray keyword: 추천 in "친구 추천 이벤트 참여 방법").
    general_at: float = Field(0.7, ge=0, le=1)


class Classifier(Protocol):
    def predict(
        self, text: str, subject: str | None = None, channel: str = "mail"
    ) -> list[tuple[str, float]]: ...


class _Compiled:
    """A rule set ready to match: its normaliser, each rule's quick test, every keyword."""

    __slots__ = ("keywords", "normaliser", "tests")

    def __init__(self, normaliser: Normaliser, tests: list[tuple[Rule, ConditionTest]]) -> None:
        self.normaliser = normaliser
        self.tests = tests
        self.keywords = KeywordIndex(k for rule, _ in tests for k in rule.when.keywords_used)


class RuleSet(Strict):
    version: Literal[1] = 1
    default: Defaults = Field(default_factory=Defaults)
    model: ModelUse = Field(default_factory=ModelUse)
    customers: Customers = Field(default_factory=Customers)
    normalise: Normalisation = Field(default_factory=Normalisation)
    sla: SlaPolicies = Field(default_factory=SlaPolicies)
    rules: list[Rule] = Field(default_factory=list)

    _compiled: _Compiled = PrivateAttr(default_factory=lambda: _Compiled(Normaliser(), []))

    @model_validator(mode="after")
    def _prepare(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}; names must be unique")
            seen.add(rule.name)
        normaliser = Normaliser(self.normalise.variants)
        self._compiled = _Compiled(
            normaliser, [(rule, rule.when.compile(normaliser)) for rule in self.rules]
        )
        return self

    def decide(
        self,
        message: InboundMessage,
        facts: MatchFacts | None = None,
        model: Classifier | None = None,
    ) -> RoutingDecision:
        """Pure: the routing decision for `message` given what the store knows (`facts`) and,
        when given, the routing model's probabilities."""
        facts = facts or MatchFacts()
        compiled = self._compiled
        vip = self.customers.is_vip(message, facts)
        data = MatchInput(message, facts, compiled.normaliser, vip, compiled.keywords)
        matched: list[Rule] = []
        reasons: list[str] = []
        for rule, test in compiled.tests:
            if not test.holds(data):
                continue
            why = rule.when.explain(data)
            if why is None:  # explain and holds make the same tests (test_rules checks)
                continue
            matched.append(rule)
            reasons.append(f"rule {rule.name}: {'; '.join(why) or 'matches every message'}")
            if not rule.continue_:
                break
        if model is not None and self.model.enabled:
            matched = self._consult(model, message, matched, reasons)
        decision = self._combine(matched, reasons)
        decision.sla = self.sla.state(
            message,
            decision.priority,
            decision.team,
            facts.calendar,
            new_conversation=facts.conversation.created,
        )
        if (
            decision.sla.platform_due
            and decision.sla.platform_due == decision.sla.first_response_due
        ):
            decision.reasons.append(
                f"SLA: first response due {decision.sla.platform_due.isoformat()}, before the "
                f"business-hours target: {decision.sla.platform_reason}"
            )
        self._render(decision, matched, message, facts)
        return decision

    def _consult(
        self, model: Classifier, message: InboundMessage, matched: list[Rule], reasons: list[str]
    ) -> list[Rule]:
        """The model decides the category where no category rule matched or where a keyword
        rule's match is weak (the model is sure of another category and gives the rule's
        little weight); a rule written on purpose keeps its category."""
        rule = next((r for r in matched if r.set.category), None)
        if rule is not None and rule.model_may() == "keep":
            return matched  # written on purpose for this channel, account or customer
        guesses = model.predict(message.text, message.subject, message.channel)
        if not guesses:
            return matched
        top, p = guesses[0]
        said = f"model: {', '.join(f'{c} {q:.2f}' for c, q in guesses[:2])}"
        use = self.model
        if rule is None or rule.model_may() == "fallback":
            if p >= use.decide_at and (rule is None or top != rule.set.category):
                return self._adopt(top, rule, matched, reasons, f"{said} → category {top}")
            if rule is None:
                reasons.append(f"{said} — not sure enough: category general")
            else:
                reasons.append(f"{said} — not sure enough: rule {rule.name} applies")
            return matched
        rule_p = dict(guesses).get(rule.set.category or "", 0.0)
        sure = use.general_at if top == "general" else use.override_at
        if top != rule.set.category and p >= sure and rule_p < use.keep_at:
            why = f"{said} → category {top} (rule {rule.name}'s keyword match is weak)"
            return self._adopt(top, rule, matched, reasons, why)
        reasons.append(said)
        return matched

    def _adopt(
        self,
        category: str,
        replaced: Rule | None,
        matched: list[Rule],
        reasons: list[str],
        why: str,
    ) -> list[Rule]:
        """The model's category takes the actions of the first rule that sets it."""
        kept = [r for r in matched if r is not replaced]
        source = next(
            (r for r in self.rules if r.set.category == category and r.model_may() != "keep"),
            None,
        )
        if source is None:
            reasons.append(f"{why}; no rule sets {category}: default team")
            return kept
        reasons.append(f"{why}, with the actions of rule {source.name}")
        return [*kept, source]

    def _combine(self, matched: list[Rule], reasons: list[str]) -> RoutingDecision:
        team = next((r.set.team for r in matched if r.set.team), None)
        category = next((r.set.category for r in matched if r.set.category), None)
        priorities = [r.set.priority for r in matched if r.set.priority]
        priority = max(priorities, key=PRIORITY_RANK.__getitem__, default=None)
        if team is None:
            reasons.append(f"default team {self.default.team}: no matching rule sets a team")
        if priority is None:
            reasons.append(
                f"default priority {self.default.priority.value}: no matching rule sets a priority"
            )
        tags: list[str] = []
        for rule in matched:
            tags.extend(t for t in rule.set.tags if t not in tags)
        return RoutingDecision(
            team=team or self.default.team,
            category=category or "general",
            priority=priority or self.default.priority,
            tags=tags,
            assignee=next((r.set.assignee for r in matched if r.set.assignee), None),
            reasons=reasons,
        )

    def _render(
        self,
        decision: RoutingDecision,
        matched: list[Rule],
        message: InboundMessage,
        facts: MatchFacts,
    ) -> None:
        flags = message.flags
        automatic = flags.auto_reply or flags.bounce or flags.list_mail or flags.echo
        if automatic or message.direction != Direction.IN:
            # Rule 5: automatic mail is stored silently and never answered (no mail loops).
            if any(r.set.note or r.set.auto_reply for r in matched):
                decision.reasons.append("note and auto-reply suppressed: automatic message")
            return
        if not any(r.set.note or r.set.auto_reply for r in matched):
            return
        values = template_values(message, facts, decision)
        notes = [
            render(r.set.note, {**values, "rule.name": r.name}).strip()
            for r in matched
            if r.set.note
        ]
        decision.note = "\n".join(dict.fromkeys(n for n in notes if n)) or None
        replying = next((r for r in matched if r.set.auto_reply), None)
        if replying is None or replying.set.auto_reply is None:
            return
        if not facts.conversation.created:
            decision.reasons.append(
                f"auto-reply of rule {replying.name} not sent: the conversation already exists"
            )
            return
        rendered = render(replying.set.auto_reply, {**values, "rule.name": replying.name})
        decision.auto_reply = rendered.strip() or None


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """'rule 'vip' field set.priority' for a location inside `rules`, else the dotted path."""
    path = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        entry = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = repr(name) if name else f"#{loc[1] + 1}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"rule {label} field {rest}" if rest else f"rule {label}"
    return path or "file"


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    """Validate already-parsed YAML; errors name the rule and the field."""
    if data is None:
        data = {}
    try:
        return RuleSet.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{_where(tuple(e['loc']), data)}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise RulesError(f"invalid rules file {source}: " + "; ".join(problems)) from err


def load_rules(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise RulesError(f"cannot read rules file {path}: {where}{err.problem}") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise RulesError(f"cannot read rules file {path}: {err}") from err
    return parse_rules(data, str(path))
