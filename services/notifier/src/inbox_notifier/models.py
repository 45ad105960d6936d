"""Pydantic models of the agent API: request bodies, query strings and responses.

They are the contract of the HTTP API and generate /openapi.json.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from inbox_core.schema import ConversationStatus, Priority

MAX_VERSION = 2**63 - 1  # the store's integers are 64-bit: a larger number is a bad request

Text = Field(min_length=1, max_length=20_000)


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- responses ---------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    code: str = Field(description="stable machine-readable error code")
    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)


class CustomerRef(BaseModel):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class SlaOut(BaseModel):
    policy: str | None = None
    warn_at: datetime | None = Field(None, description="when the running deadline turns amber")
    first_response_due: datetime | None = None
    next_response_due: datetime | None = None
    first_response_at: datetime | None = None
    paused: bool = False
    breached: bool = False


class ConversationOut(BaseModel):
    id: str
    number: int | None = None
    status: ConversationStatus
    channel: str
    account: str
    team: str | None = None
    category: str = "general"  # the routing category (DESIGN, "Contract, second part")
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list)
    subject: str | None = None
    preview: str | None = None
    customer: CustomerRef | None = None
    customer_id: str | None = None
    assignee: str | None = None
    version: int = 0
    sla: SlaOut = Field(default_factory=SlaOut)
    message_count: int = 0
    routing_reasons: list[str] = Field(default_factory=list)
    linked_conversation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_message_at: datetime | None = None
    resolved_at: datetime | None = None
    merged_into: str | None = Field(None, description="status merged: where it went")
    merged_from: list[str] = Field(default_factory=list, description="conversations merged in")
    snoozed_until: datetime | None = Field(
        None, description="a snoozed (pending) conversation reopens by itself at this time"
    )


class AttachmentOut(BaseModel):
    name: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None


class DeliveryOut(BaseModel):
    status: Literal["queued", "sent", "failed"]
    error: str | None = None
    external_id: str | None = None
    at: datetime | None = None


class MessageOut(BaseModel):
    id: str
    conversation_id: str | None = None
    channel: str | None = None
    account: str | None = None
    external_id: str | None = None
    direction: Literal["in", "out"]
    kind: Literal["message", "note", "auto_reply", "system"] = "message"
    author: str | None = None
    subject: str | None = None
    text: str = ""
    full_text: str | None = None
    html: str | None = None
    attachments: list[AttachmentOut] = Field(default_factory=list)
    flags: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    delivery: DeliveryOut | None = None
    raw_url: str | None = Field(None, description="the message exactly as received")
    superseded_by: str | None = Field(None, description="a later edit of this message")
    deleted_on_platform: bool = False
    created_at: datetime | None = None


class SuggestionOut(BaseModel):
    faq_id: str
    score: float
    answer: str = Field(description="the entry's answer rendered for this conversation")


class ConversationDetail(ConversationOut):
    messages: list[MessageOut] = Field(default_factory=list)
    linked_conversations: list[ConversationOut] = Field(default_factory=list)
    suggestions: list[SuggestionOut] = Field(
        default_factory=list, description="FAQ answers for the latest customer message (≤ 3)"
    )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = None


class ActionResult(BaseModel):
    conversation: ConversationOut
    message: MessageOut | None = None


class MeOut(BaseModel):
    agent: str = Field(description="the agent the token belongs to")
    role: Literal["admin", "agent"] = Field(description="what the token may do")
    sla_warn_ratio: float


class AgentsOut(BaseModel):
    items: list[str]


class CannedOut(BaseModel):
    id: str
    title: str
    text: str
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CannedList(BaseModel):
    items: list[CannedOut]


class PreviewOut(BaseModel):
    text: str
    missing: list[str] = Field(default_factory=list, description="placeholders with no value")


class IdentityOut(BaseModel):
    channel: str
    account: str
    id: str


class CustomerOut(BaseModel):
    id: str
    name: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    identities: list[IdentityOut] = Field(default_factory=list)
    conversations: list[ConversationOut] = Field(default_factory=list)
    history: list[MessageOut] = Field(default_factory=list)
    merged_from: list[str] = Field(default_factory=list)


class DeadLetterOut(BaseModel):
    id: str = Field(description="the DLQ stream sequence")
    stream: str
    consumer: str
    subject: str
    error: str
    deliveries: int
    failed_at: datetime
    data_preview: str
    replayed_at: datetime | None = None


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]


class ReplayOut(BaseModel):
    id: str
    subject: str
    replayed_at: datetime


# --- requests ----------------------------------------------------------------------------


class ConversationQuery(ApiModel):
    status: str | None = None
    team: str | None = None
    channel: str | None = None
    account: str | None = None
    assignee: str | None = None
    priority: str | None = None
    tag: str | None = None
    q: str | None = Field(None, max_length=200)
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class ReplyIn(ApiModel):
    text: str | None = Field(None, max_length=20_000)
    agent: str | None = Field(
        None, max_length=100, description="ignored: the author is always the token's agent"
    )
    canned_id: str | None = None
    channel: str | None = Field(
        None,
        max_length=50,
        description="send on this channel of the conversation (after a merge it may have "
        "several); default: where the customer last wrote",
    )
    attachments: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="refs from POST /api/attachments; 422 attachments_not_supported when "
        "the channel cannot carry them",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("text must not be blank")
        return value


class NoteIn(ApiModel):
    text: str = Text
    agent: str | None = Field(
        None, max_length=100, description="ignored: the author is always the token's agent"
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class AssignIn(ApiModel):
    assignee: str | None = Field(
        None, max_length=100, description="agent name; null unassigns; defaults to nobody"
    )
    version: int | None = Field(
        None,
        ge=0,
        le=MAX_VERSION,
        description="the conversation version the agent saw; 409 when it changed",
    )
    force: bool = Field(
        False, description="take over a conversation assigned to someone else (admin only)"
    )


class StatusIn(ApiModel):
    status: ConversationStatus
    version: int | None = Field(None, ge=0, le=MAX_VERSION)
    until: AwareDatetime | None = Field(
        None,
        description="snooze: with status pending, reopen by itself at this time (ISO 8601 "
        "with an offset); earlier when the customer writes",
    )

    @field_validator("status")
    @classmethod
    def _not_merged(cls, value: ConversationStatus) -> ConversationStatus:
        if value == ConversationStatus.MERGED:
            raise ValueError("merged is set by POST /api/conversations/{id}/merge")
        return value

    @model_validator(mode="after")
    def _until_only_when_pending(self) -> StatusIn:
        if self.until is not None and self.status != ConversationStatus.PENDING:
            raise ValueError("until is only for status pending (snooze)")
        return self


class TagsIn(ApiModel):
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("add", "remove")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v or len(v) > 50 for v in cleaned):
            raise ValueError("tags are 1 to 50 characters")
        return cleaned


class CannedIn(ApiModel):
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=50)


class PreviewIn(ApiModel):
    conversation_id: str | None = None
    text: str | None = Field(None, max_length=20_000, description="preview unsaved text instead")


class MergeIn(ApiModel):
    other_id: str = Field(min_length=1, description="this customer absorbs the other one")


class EventsQuery(ApiModel):
    types: str | None = Field(None, description="comma-separated event types")
    team: str | None = None
    last_event_id: str | None = None
    access_token: str | None = None
