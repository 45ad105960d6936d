"""The bus contract as an AsyncAPI 3 document, generated from the pydantic models.

A connector written in any language needs only this document: it publishes `InboundMessage`
to `inbox.in.<channel>.<account>` (with `Nats-Msg-Id`), consumes `OutboundReply` from
`inbox.out.<channel>.<account>` and publishes `DeliveryReport` to
`inbox.delivery.<channel>.<account>`. The checked-in copy is `docs/asyncapi.json`; a test fails
when it and the models disagree (regenerate with `make asyncapi`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic.json_schema import models_json_schema

from inbox_core import subjects
from inbox_core.commands import DONE_TO_HEADER, CustomerMerge, ThreadMove
from inbox_core.schema import (
    SCHEMA_VERSION,
    DeadLetter,
    DeliveryReport,
    Event,
    InboundMessage,
    Model,
    OutboundReply,
    RoutedMessage,
)

REF_TEMPLATE = "#/components/schemas/{model}"
ACCOUNT_PARAMS = {
    "channel": {"description": "channel id, lower snake case (e.g. `kakao`, `naver_talktalk`)"},
    "account": {"description": "which mailbox, page or shop of the channel"},
}
MSG_ID_HEADER = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "`<channel>:<account>:<external_id>`: JetStream drops a repeat "
            "within the stream's duplicate window, so a connector may publish again safely",
        }
    },
    "required": ["Nats-Msg-Id"],
}

# (channel key, address, model, stream, who publishes, who consumes, description, params)
CHANNELS: list[tuple[str, str, type[Model], str, str, str, str, bool]] = [
    (
        "inbound",
        "inbox.in.{channel}.{account}",
        InboundMessage,
        subjects.STREAM_INBOUND,
        "connector",
        "router",
        "A customer message, normalised by its connector.",
        True,
    ),
    (
        "routed",
        "inbox.routed.{channel}.{account}",
        RoutedMessage,
        subjects.STREAM_ROUTED,
        "router",
        "notifier",
        "The router's decision for one inbound message: conversation, team, priority, SLA.",
        True,
    ),
    (
        "outbound",
        "inbox.out.{channel}.{account}",
        OutboundReply,
        subjects.STREAM_OUTBOUND,
        "notifier",
        "connector",
        "An agent's (or the bot's) reply for the channel's connector to deliver.",
        True,
    ),
    (
        "delivery",
        "inbox.delivery.{channel}.{account}",
        DeliveryReport,
        subjects.STREAM_ROUTED,
        "connector",
        "notifier",
        "The connector's word on an outbound reply: sent, or failed with the platform's reason.",
        True,
    ),
    (
        "events",
        "inbox.events.{type}",
        Event,
        subjects.STREAM_EVENTS,
        "notifier",
        "agent UI",
        "Every change of the queue, the same envelope as on the SSE stream "
        "(`{type}` is e.g. `conversation.created`).",
        False,
    ),
    (
        "dead_letters",
        "inbox.dlq.{stream}.{consumer}",
        DeadLetter,
        subjects.STREAM_DLQ,
        "any consumer",
        "operator",
        "A message that failed processing MaxDeliver times, with the error.",
        False,
    ),
    (
        "thread_moves",
        subjects.THREAD_MOVES,
        ThreadMove,
        subjects.STREAM_COMMANDS,
        "notifier",
        "router",
        "A command to the owner of the thread keys: after a merge or a split, keys lead to "
        "another conversation.",
        False,
    ),
    (
        "customer_merges",
        subjects.CUSTOMER_MERGES,
        CustomerMerge,
        subjects.STREAM_COMMANDS,
        "notifier",
        "router",
        "A command to the owner of the customers: an admin merged two customers. With an "
        f"`{DONE_TO_HEADER}` header, the router publishes `done` to that core NATS subject "
        "once it has carried it out.",
        False,
    ),
]


def _schemas() -> dict[str, Any]:
    models = [(row[2], "serialization") for row in CHANNELS]
    _, top = models_json_schema(models, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    return dict(sorted(top.get("$defs", {}).items()))


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every message on the bus."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for key, address, model, stream, producer, consumer, description, per_account in CHANNELS:
        name = model.__name__
        message: dict[str, Any] = {
            "name": name,
            "contentType": "application/json",
            "payload": {"$ref": REF_TEMPLATE.format(model=name)},
            "summary": (model.__doc__ or name).strip().splitlines()[0],
        }
        if key == "inbound":
            message["headers"] = MSG_ID_HEADER
        messages[name] = message
        params: dict[str, Any]
        if per_account:
            params = ACCOUNT_PARAMS
        elif key == "events":
            params = {"type": {"description": "the event type, e.g. `conversation.created`"}}
        elif "{" not in address:  # a fixed subject (commands)
            params = {}
        else:
            params = {
                "stream": {"description": "the failing consumer's stream, lower case"},
                "consumer": {"description": "the durable consumer's name"},
            }
        channels[key] = {
            "address": address,
            "description": f"{description} JetStream stream `{stream}`.",
            "parameters": params,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        ref = {"$ref": f"#/channels/{key}"}
        msg_ref = [{"$ref": f"#/channels/{key}/messages/{name}"}]
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": ref,
            "summary": f"{producer} publishes",
            "messages": msg_ref,
        }
        operations[f"consume_{key}"] = {
            "action": "receive",
            "channel": ref,
            "summary": f"{consumer} consumes",
            "messages": msg_ref,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Omnichannel inbox bus",
            "version": str(SCHEMA_VERSION),
            "description": (
                "NATS JetStream subjects and the JSON messages on them. Generated from "
                "inbox_core.schema; do not edit by hand (make asyncapi). Every message carries "
                "`schema_version`; a consumer dead-letters a version newer than it knows."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {"host": "localhost:4222", "protocol": "nats", "description": "NATS_URL"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


def render() -> bytes:
    return orjson.dumps(build_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the document to this file")
    parser.add_argument("--check", type=Path, help="exit 1 when this file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.check.exists() or args.check.read_bytes() != text:
            print(f"{args.check} is out of date: run make asyncapi", file=sys.stderr)
            return 1
        return 0
    if args.write:
        args.write.write_bytes(text)
        return 0
    sys.stdout.buffer.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
