"""Pydantic models of the desk routes (bulk actions, merge, split, attachments): request
bodies and responses, part of the agent API contract and of /openapi.json."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from inbox_notifier.models import ApiModel, ConversationOut

MAX_BULK: int = 500
MAX_ATTACHMENTS: int = 10


def _clean_tags(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v or len(v) > 50 for v in cleaned):
        raise ValueError("tags are 1 to 50 characters")
    return cleaned


class BulkIn(ApiModel):
    ids: list[str] = Field(min_length=1, max_length=MAX_BULK, description="conversation ids")
    action: Literal["resolve", "assign", "team", "tag", "reply"]
    assignee: str | None = Field(None, max_length=100, description="assign: agent, null unassigns")
    force: bool = Field(False, description="assign: take over conversations held by others")
    team: str | None = Field(None, min_length=1, max_length=100, description="team: the team")
    add: list[str] = Field(default_factory=list, max_length=50, description="tag: tags to add")
    remove: list[str] = Field(default_factory=list, max_length=50, description="tag: to remove")
    text: str | None = Field(
        None,
        max_length=20_000,
        description="reply: one text, rendered per conversation ({{customer.name}}, ...)",
    )
    canned_id: str | None = Field(None, description="reply: a canned response instead of text")
    attachments: list[str] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="reply: attachment refs"
    )

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return _clean_tags(values)

    @field_validator("ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        if any(not i or len(i) > 100 for i in ids):
            raise ValueError("ids are 1 to 100 characters")
        return list(dict.fromkeys(ids))  # each conversation once, in the order given

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> BulkIn:
        if self.action == "team" and not self.team:
            raise ValueError("action team needs team")
        if self.action == "tag" and not (self.add or self.remove):
            raise ValueError("action tag needs add or remove")
        if self.action == "reply" and not ((self.text and self.text.strip()) or self.canned_id):
            raise ValueError("action reply needs text or canned_id")
        if self.action == "assign" and "assignee" not in self.model_fields_set:
            raise ValueError("action assign needs assignee (null unassigns)")
        return self


class BulkResult(BaseModel):
    id: str
    ok: bool
    error: str | None = Field(None, description="the error code when not ok (e.g. not_found)")
    message: str | None = None


class BulkOut(BaseModel):
    results: list[BulkResult]


class MergeConversationIn(ApiModel):
    other_id: str = Field(min_length=1, max_length=100, description="merged into this one")


class SplitIn(ApiModel):
    message_ids: list[str] = Field(min_length=1, max_length=500)


class SplitOut(BaseModel):
    conversation: ConversationOut = Field(description="the new conversation")
    original: ConversationOut


class AttachmentUploadOut(BaseModel):
    ref: str = Field(description="use in a reply's attachments")
    name: str
    content_type: str = Field(description="from the file's magic bytes, not its name")
    size: int
