"""Commands on the bus (stream COMMANDS): one service asks the owner of a collection to
change it, so every collection keeps one writer. Idempotent by `id` (`Nats-Msg-Id`) and by
what they do (repointing a key twice leaves it where once did)."""

from __future__ import annotations

from pydantic import Field

from inbox_core.schema import SCHEMA_VERSION, Model, new_id


class ThreadMove(Model):
    """Notifier → router (`inbox.cmd.threads.move`): thread keys that led to
    `from_conversation_id` lead to `to_conversation_id` from now on (a merge moves every key
    of the merged conversation, a split the keys of the messages it moved)."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    from_conversation_id: str
    to_conversation_id: str
    keys: list[str] | None = Field(None, description="only these keys; None: every key")
    reason: str = Field(description="merge or split, for the key's history")
