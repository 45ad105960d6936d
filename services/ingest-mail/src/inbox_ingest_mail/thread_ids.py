"""Our outbound Message-IDs: `<inbox.<conversation>.<reply>@<domain>>`.

They carry the conversation and the reply, so a customer's answer (In-Reply-To/References)
threads back, a bounce names the reply that failed, and our own mail coming back in is
recognised (loop guard). Ids are hex in practice; anything outside `[A-Za-z0-9_-]` is
dropped so the id stays a valid `dot-atom-text`.
"""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_OWN: Final = re.compile(r"^inbox\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})@([^@\s<>]+)$")


def outbound_message_id(conversation_id: str, reply_id: str, domain: str) -> str:
    """The id (without `<>`) of the mail that carries reply `reply_id`."""
    conversation = _UNSAFE.sub("", conversation_id)[:64] or "0"
    reply = _UNSAFE.sub("", reply_id)[:64] or "0"
    return f"inbox.{conversation}.{reply}@{domain}"


def parse_own_message_id(
    value: str | None, own_domains: frozenset[str] | None = None
) -> tuple[str, str] | None:
    """(conversation id, reply id) when `value` is one of our Message-IDs, on one of
    `own_domains` when given; None otherwise."""
    if not value:
        return None
    match = _OWN.match(value.strip().strip("<>"))
    if match is None:
        return None
    if own_domains is not None and match.group(3).lower().rstrip(".") not in own_domains:
        return None
    return match.group(1), match.group(2)
