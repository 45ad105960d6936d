"""Commands on the bus (stream COMMANDS): one service asks the owner of a collection to
change it, so every collection keeps one writer. Idempotent by `id` (`Nats-Msg-Id`) and by
what they do (repointing a key twice leaves it where once did)."""

from __future__ import annotations

import contextlib
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from pydantic import Field

from inbox_core.bus import Bus
from inbox_core.errors import BusUnavailable
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


class CustomerMerge(Model):
    """Notifier → router (`inbox.cmd.customers.merge`): `from_customer_id` becomes part of
    `to_customer_id`: its keys lead there, its identities, e-mails and phones join it, and
    its id resolves there (`customer_merges`). Sent when an admin merges two customers."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_id)
    from_customer_id: str
    to_customer_id: str
    by: str | None = Field(None, description="the agent who merged them")


# The owner publishes to this (core NATS) subject, when a command carries it, once the
# command is carried out: the sender can then answer its caller with the change visible.
DONE_TO_HEADER: Final = "Inbox-Done-To"
DONE: Final = b"done"


async def send_and_wait(bus: Bus, subject: str, command: Model, *, timeout: float) -> bool:
    """Publish `command` on COMMANDS (durable: the owner carries it out even when it is down
    now) and wait until the owner has done it. False when it has not within `timeout`.
    Raises BusUnavailable when the bus did not take the command."""
    if bus.nc is None or not bus.connected:
        raise BusUnavailable("bus disconnected")
    inbox = bus.nc.new_inbox()
    done = await bus.nc.subscribe(inbox, max_msgs=1)
    try:
        # A fresh Nats-Msg-Id per call: sending again after a timeout is not dropped as a
        # duplicate (the command's effect is idempotent, so carrying it out twice is safe).
        await bus.publish_model(subject, command, msg_id=new_id(), headers={DONE_TO_HEADER: inbox})
        try:
            await done.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            return False
        return True
    finally:
        with contextlib.suppress(nats.errors.Error):
            await done.unsubscribe()


async def confirm_done(bus: Bus, msg: Msg) -> None:
    """The owner's side: tell the sender of `msg` (if it waits) that the command is done."""
    to = (msg.headers or {}).get(DONE_TO_HEADER)
    if to and bus.nc is not None:
        with contextlib.suppress(nats.errors.Error):
            await bus.nc.publish(to, DONE)
