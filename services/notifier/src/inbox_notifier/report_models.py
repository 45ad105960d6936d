"""Pydantic models of the reports API (they generate its part of /openapi.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inbox_notifier.models import ApiModel

PERIOD_HELP = (
    "ISO date or datetime; Asia/Seoul when no offset is given. A date `to` includes that day."
)


class PeriodQuery(ApiModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from", description=PERIOD_HELP + " Default: 6 days ago")
    to: str | None = Field(None, description=PERIOD_HELP + " Default: today")
    format: Literal["json", "csv"] = "json"


class TimeseriesQuery(PeriodQuery):
    interval: Literal["hour", "day"] = "day"
    by: Literal["all", "category", "channel", "account", "team", "product", "agent"] = Field(
        "category", description="`agent` is admin only"
    )
    metric: Literal[
        "created", "resolved", "first_responses", "first_response_median_s", "within_sla"
    ] = "created"


class KeyFigures(BaseModel):
    created: int = 0
    resolved: int = 0
    first_responses: int = 0
    first_response_median_s: float | None = None
    within_sla: float | None = Field(None, description="share of first responses within SLA")
    bot_answered: int = 0


class AgentFigures(BaseModel):
    agent: str
    resolved: int = 0
    first_responses: int = 0
    first_response_median_s: float | None = None
    within_sla: float | None = None


class FirstResponse(BaseModel):
    count: int
    median_s: float | None = None
    p90_s: float | None = None
    within_sla: float | None = Field(None, description="share 0..1 of first responses in time")
    breached: int = 0


class Resolution(BaseModel):
    median_s: float | None = None
    p90_s: float | None = None


class BotShare(BaseModel):
    count: int
    share: float | None = None


class TeamBacklog(BaseModel):
    open: int
    pending: int
    breached: int


class Backlog(TeamBacklog):
    by_team: dict[str, TeamBacklog] = Field(default_factory=dict)


class SummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    created: int
    resolved: int
    first_response: FirstResponse
    resolution: Resolution
    bot_answered: BotShare
    by_category: dict[str, KeyFigures]
    by_channel: dict[str, KeyFigures]
    by_team: dict[str, KeyFigures]
    by_product: dict[str, KeyFigures] = Field(description="the 20 most asked-about products")
    by_agent: list[AgentFigures] | None = Field(None, description="admins only; null for agents")
    backlog: Backlog


class Bucket(BaseModel):
    start: str
    counts: dict[str, float | int | None]


class TimeseriesOut(BaseModel):
    interval: str
    by: str
    metric: str
    buckets: list[Bucket]


class DueSoon(BaseModel):
    id: str
    number: int | None = None
    subject: str | None = None
    team: str | None = None
    category: str | None = None
    due: str


class Today(BaseModel):
    created: int
    responded: int
    response_rate: float | None = Field(
        None, description="응대율: share of today's conversations with an agent's first response"
    )
    bot_answered: int
    resolved: int


class SpikeOut(BaseModel):
    id: str
    type: str
    dimension: str
    key: str
    count: int
    baseline: float
    window_s: int
    examples: list[str]
    at: str


class LiveOut(BaseModel):
    now: str
    open: int
    pending: int
    breached: int
    by_team: dict[str, TeamBacklog]
    due_within_hour: int
    due_soon: list[DueSoon]
    arrivals_last_hour: int
    usual_last_hour: float = Field(description="mean arrivals in this hour on the last 14 days")
    today: Today
    spikes: list[SpikeOut] = Field(description="spikes of the last hour, newest first")
