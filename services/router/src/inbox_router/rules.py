"""Routing rules: a YAML file validated by pydantic; first match wins unless `continue`.

The walking skeleton matches on channel, account and keywords; the rules engine issue
adds regex, customer attributes, business hours, notes and auto-replies.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inbox_core.errors import InboxError
from inbox_core.schema import InboundMessage, Priority, RoutingDecision


class RulesError(InboxError):
    """The rules file cannot be used; the message says which rule and field."""


def normalise_text(text: str) -> str:
    """NFKC, lower case, no whitespace: '배 송' and '배송', 'ＲＥＦＵＮＤ' and 'refund' match."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: list[str] | None = None
    account: list[str] | None = None
    keywords_any: list[str] | None = None

    @field_validator("channel", "account", "keywords_any", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def matches(self, message: InboundMessage, haystack: str) -> bool:
        if self.channel and message.channel not in self.channel:
            return False
        if self.account and message.account not in self.account:
            return False
        if self.keywords_any and not any(normalise_text(k) in haystack for k in self.keywords_any):
            return False
        return True


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str | None = None
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    when: Condition = Field(default_factory=Condition)
    set: Action
    continue_: bool = Field(False, alias="continue")


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str = "general"
    priority: Priority = Priority.NORMAL


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sla: dict[Priority, float] = Field(
        default_factory=lambda: {
            Priority.URGENT: 1.0,
            Priority.HIGH: 6.0,
            Priority.NORMAL: 24.0,
            Priority.LOW: 72.0,
        }
    )
    default: Defaults = Field(default_factory=Defaults)
    rules: list[Rule] = Field(default_factory=list)

    def decide(self, message: InboundMessage) -> RoutingDecision:
        context_text = " ".join(str(v) for v in message.context.values() if isinstance(v, str))
        haystack = normalise_text(f"{message.subject or ''} {message.text} {context_text}")
        decision = RoutingDecision(team=self.default.team, priority=self.default.priority)
        matched_team = False
        for rule in self.rules:
            if not rule.when.matches(message, haystack):
                continue
            if rule.set.team and not matched_team:
                decision.team = rule.set.team
                matched_team = True
            if rule.set.priority and decision.priority == self.default.priority:
                decision.priority = rule.set.priority
            decision.tags.extend(t for t in rule.set.tags if t not in decision.tags)
            decision.reasons.append(f"rule {rule.name}")
            if not rule.continue_:
                break
        if not decision.reasons:
            decision.reasons.append("default")
        return decision


def load_rules(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RulesError(f"cannot read rules file {path}: {err}") from err
    try:
        return RuleSet.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = list(e["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = data.get("rules") or []
                name = (
                    rules[loc[1]].get("name")
                    if loc[1] < len(rules) and isinstance(rules[loc[1]], dict)
                    else None
                )
                where = (
                    f"rule {name or '#' + str(loc[1] + 1)!r} field {'.'.join(map(str, loc[2:]))}"
                )
            problems.append(f"{where}: {e['msg']}")
        raise RulesError(f"invalid rules file {path}: " + "; ".join(problems)) from err
