"""Request and response models of the FAQ routes (api_faq.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from inbox_core.faq import FaqEntry


class FaqIn(BaseModel):
    # `id` and timestamps sent back from a GET are ignored, so an entry can be PUT as read.
    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=500)
    examples: list[str] = Field(default_factory=list, max_length=200)
    answer: str = Field(min_length=1, max_length=3000)
    channels: list[str] | None = Field(
        None, description="channels the bot answers on; null: every chat channel"
    )
    auto_answer: bool = True
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> FaqIn:
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValueError("active_until must be after active_from")
        self.examples = [e.strip() for e in self.examples if e.strip()]
        return self


class FaqList(BaseModel):
    items: list[FaqEntry]


class MatchIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    channel: str | None = None


class MatchOut(BaseModel):
    faq_id: str
    score: float
    answer: str


class MatchResultOut(BaseModel):
    matches: list[MatchOut]
    auto: bool = Field(description="sure enough to answer with no agent")


class CandidatesQuery(BaseModel):
    days: int = Field(30, ge=1, le=365, description="look at conversations of the last N days")
    limit: int = Field(20, ge=1, le=100)
    min_count: int = Field(3, ge=2, le=1000, description="smallest cluster shown")


class CandidateOut(BaseModel):
    count: int
    question: str = Field(description="the most typical question of the cluster")
    examples: list[str]
    conversation_ids: list[str]
    answer: str | None = Field(description="the agents' most common answer, if any")
    last_at: datetime | None = None


class CandidatesOut(BaseModel):
    items: list[CandidateOut]
