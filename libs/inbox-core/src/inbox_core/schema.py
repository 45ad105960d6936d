"""Pydantic models that are the contract between services.

Everything on the bus is one of these models, serialised as JSON with orjson.
`schema_version` lets a consumer refuse (dead-letter) a message it does not understand
instead of misreading it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Self, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from inbox_core.errors import InvalidPayload

SCHEMA_VERSION = 1
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# NATS subject tokens may not hold '.', '*', '>' or whitespace.
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_\-@+]{1,64}$")


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


def _channel(value: str) -> str:
    if not CHANNEL_RE.match(value):
        raise ValueError("channel must be lower snake case, e.g. 'naver_talktalk'")
    return value


def _account(value: str) -> str:
    if not ACCOUNT_RE.match(value):
        raise ValueError("account may hold letters, digits, '_', '-', '@', '+' (max 64)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
ChannelId = Annotated[str, AfterValidator(_channel)]
AccountId = Annotated[str, AfterValidator(_account)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, populate_by_name=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=False))

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        try:
            return cls.model_validate(orjson.loads(data))
        except (orjson.JSONDecodeError, ValueError) as err:
            raise InvalidPayload(f"not a valid {cls.__name__}: {err}") from err


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    MERGED = "merged"  # merged into another conversation (`merged_into`); agents cannot set it


class Customer(Model):
    """The sender as the channel knows them. `id` is scoped to channel+account."""

    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class Attachment(Model):
    name: str
    content_type: str = "application/octet-stream"
    size: int = 0
    ref: str | None = None  # where the bytes are stored (e.g. gridfs:<id>) or the platform URL
    url: str | None = None


class MessageFlags(Model):
    auto_reply: bool = False
    bounce: bool = False
    list_mail: bool = False
    echo: bool = False  # the account's own message seen through the channel (sent outside us)


class InboundMessage(Model):
    """One customer (or echoed agent) message, normalised by a connector."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    channel: ChannelId
    account: AccountId
    external_id: str = Field(min_length=1, max_length=512)
    direction: Direction = Direction.IN
    # Keys naming this message's thread (mail Message-ID, platform thread/user id, question id).
    thread_keys: list[str] = Field(min_length=1)
    # Keys this message refers to (mail In-Reply-To/References); joining any joins its conversation.
    references: list[str] = Field(default_factory=list)
    customer: Customer
    subject: str | None = None
    text: str = ""
    full_text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    received_at: AwareDatetime = Field(default_factory=utcnow)
    context: dict[str, Any] = Field(default_factory=dict)
    flags: MessageFlags = Field(default_factory=MessageFlags)
    raw_ref: str | None = None

    @property
    def dedup_id(self) -> str:
        """`Nats-Msg-Id` and the store's idempotency key: channel:account:external_id."""
        return f"{self.channel}:{self.account}:{self.external_id}"


class SlaState(Model):
    policy: str | None = None
    # Targets in business minutes, so the notifier can recompute due times after a pause.
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    first_response_due: AwareDatetime | None = None
    next_response_due: AwareDatetime | None = None
    breached: bool = False
    # [first, next] response targets in business minutes for every priority, so the notifier
    # can follow the new priority's policy when an agent changes it.
    priority_minutes: dict[str, list[int]] = Field(default_factory=dict)
    # A deadline the platform itself enforces (wall clock), e.g. Coupang closes an unanswered
    # call-center inquiry after 24 hours: the first response is never due after it.
    platform_due: AwareDatetime | None = None
    platform_reason: str | None = None


# The routing categories the shipped rules and model use; rule files may add more.
CATEGORIES: Final = (
    "shipping",
    "refund_return_exchange",
    "restock",
    "product",
    "defect_missing_wrong",
    "identity",
    "app",
    "general",
)


class BotAnswer(Model):
    """An FAQ answer the bot gives the customer with no agent (see inbox_core.faq)."""

    faq_id: str
    score: float
    text: str  # rendered
    delivered: bool = False  # already sent by the connector (Kakao skill response)
    resolve: bool = True  # False when an agent has the conversation: recorded, not resolved


class RoutingDecision(Model):
    team: str = "general"
    category: str = "general"  # what the customer asks about (CATEGORIES or a rule's own)
    priority: Priority = Priority.NORMAL
    tags: list[str] = Field(default_factory=list)
    assignee: str | None = None
    reasons: list[str] = Field(default_factory=list)
    sla: SlaState = Field(default_factory=SlaState)
    note: str | None = None  # a private note for agents, rendered by the router
    auto_reply: str | None = None  # a rendered automatic answer to send to the customer
    bot_answer: BotAnswer | None = None  # an FAQ answer by the bot (chat channels)


class RoutedMessage(Model):
    """What the router decided for one inbound message (stream ROUTED)."""

    schema_version: int = SCHEMA_VERSION
    message: InboundMessage
    conversation_id: str
    customer_id: str | None = None  # the linked customer across channels
    # True only for the message whose thread key created the conversation (stable on redelivery).
    conversation_created: bool = False
    reopen: bool = True
    linked_conversation_id: str | None = None
    decision: RoutingDecision = Field(default_factory=RoutingDecision)
    routed_at: AwareDatetime = Field(default_factory=utcnow)


class OutboundReply(Model):
    """An agent reply for a connector to deliver (stream OUTBOUND)."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    conversation_id: str
    channel: ChannelId
    account: AccountId
    customer: Customer
    thread_keys: list[str] = Field(default_factory=list)
    in_reply_to: str | None = None  # external id of the message being answered
    subject: str | None = None
    text: str
    agent: str
    context: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime = Field(default_factory=utcnow)
    # Files the agent attached (`ref` names the stored bytes); only for channels that carry
    # them (inbox_core.attachments.REPLY_FILES): the notifier refuses the others up front.
    attachments: list[Attachment] = Field(default_factory=list)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class DeliveryReport(Model):
    """A connector's word on an outbound reply (stream ROUTED, subject inbox.delivery.*)."""

    schema_version: int = SCHEMA_VERSION
    reply_id: str
    conversation_id: str
    channel: ChannelId
    account: AccountId
    status: DeliveryStatus
    external_id: str | None = None
    error: str | None = None
    at: AwareDatetime = Field(default_factory=utcnow)


EventType = Literal[
    "conversation.created",
    "conversation.updated",
    "message.created",
    "message.updated",  # e.g. a reply's delivery went from queued to sent
    "message.delivery_failed",
    "sla.warning",
    "sla.breached",
]


class Event(Model):
    """The envelope of everything an agent UI sees (stream EVENTS and SSE)."""

    schema_version: int = SCHEMA_VERSION
    id: str
    type: EventType
    conversation_id: str
    conversation: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    at: AwareDatetime = Field(default_factory=utcnow)


class SpikeEvent(Model):
    """`spike.detected`: arrivals of one category or product in the last `window_s` seconds
    are well above the usual for that hour (SSE and NATS `inbox.events.spike.detected`)."""

    schema_version: int = SCHEMA_VERSION
    id: str
    type: Literal["spike.detected"] = "spike.detected"
    dimension: Literal["category", "product"]
    key: str
    count: int
    baseline: float  # the usual number of arrivals in such a window at this hour
    window_s: int
    examples: list[str] = Field(default_factory=list, max_length=5)  # conversation ids
    at: AwareDatetime = Field(default_factory=utcnow)


class DeadLetter(Model):
    """A message that failed processing MaxDeliver times (stream DLQ)."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    stream: str
    consumer: str
    subject: str
    headers: dict[str, str] = Field(default_factory=dict)
    data: str  # the original payload, utf-8 (or base64 when `data_encoding` says so)
    data_encoding: Literal["utf-8", "base64"] = "utf-8"
    error: str
    deliveries: int
    failed_at: AwareDatetime = Field(default_factory=utcnow)


M = TypeVar("M", bound=Model)
