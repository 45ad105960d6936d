"""NATS stream names and subjects. Build every subject here, never in scattered f-strings."""

from __future__ import annotations

from typing import Final

STREAM_INBOUND: Final = "INBOUND"
STREAM_ROUTED: Final = "ROUTED"
STREAM_EVENTS: Final = "EVENTS"
STREAM_OUTBOUND: Final = "OUTBOUND"
STREAM_DLQ: Final = "DLQ"
STREAM_COMMANDS: Final = "COMMANDS"

INBOUND_ALL: Final = "inbox.in.>"
ROUTED_ALL: Final = "inbox.routed.>"
DELIVERY_ALL: Final = "inbox.delivery.>"
EVENTS_ALL: Final = "inbox.events.>"
OUTBOUND_ALL: Final = "inbox.out.>"
DLQ_ALL: Final = "inbox.dlq.>"
COMMANDS_ALL: Final = "inbox.cmd.>"
# Commands one service asks of the owner of a collection (one writer per collection).
THREAD_MOVES: Final = "inbox.cmd.threads.move"  # notifier → router: repoint thread keys
CUSTOMER_MERGES: Final = "inbox.cmd.customers.merge"  # notifier → router: merge two customers
# Request/reply (core NATS, not a stream): an admin asks a router to retrain its model.
ROUTER_RETRAIN: Final = "inbox.router.retrain"


def _token(value: str) -> str:
    if not value or any(c in value for c in ".*> \t\r\n"):
        raise ValueError(f"not a valid subject token: {value!r}")
    return value


def inbound(channel: str, account: str) -> str:
    return f"inbox.in.{_token(channel)}.{_token(account)}"


def routed(channel: str, account: str) -> str:
    return f"inbox.routed.{_token(channel)}.{_token(account)}"


def delivery(channel: str, account: str) -> str:
    return f"inbox.delivery.{_token(channel)}.{_token(account)}"


def delivery_for_channel(channel: str) -> str:
    return f"inbox.delivery.{_token(channel)}.>"


def outbound(channel: str, account: str) -> str:
    return f"inbox.out.{_token(channel)}.{_token(account)}"


def outbound_for_channel(channel: str) -> str:
    return f"inbox.out.{_token(channel)}.>"


def event(event_type: str) -> str:
    """`inbox.events.conversation.created` and so on, as in the public contract."""
    return "inbox.events." + ".".join(_token(part) for part in event_type.split("."))


def dead_letter(stream: str, consumer: str) -> str:
    return f"inbox.dlq.{_token(stream.lower())}.{_token(consumer)}"
