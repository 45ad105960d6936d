"""Placeholders in canned responses, replies and FAQ answers: {{customer.name}},
{{conversation.number}}, {{product.name}}, {{agent.name}} (and a few more), rendered at reply
time."""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
# What a placeholder falls back to when the conversation has no value for it, so a reply
# never reads "님, 안녕하세요".
FALLBACKS = {
    "customer.name": "고객",
    "product.name": "상품",
}
KNOWN = {
    "customer.name",
    "customer.email",
    "conversation.number",
    "conversation.subject",
    "product.name",
    "order.id",
    "agent.name",
}


def unknown_placeholders(text: str) -> list[str]:
    return sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - KNOWN)


def values_for(conversation: dict[str, Any], context: dict[str, Any], agent: str) -> dict[str, str]:
    customer = conversation.get("customer") or {}
    number = conversation.get("number")
    values = {
        "customer.name": customer.get("name"),
        "customer.email": customer.get("email"),
        "conversation.number": str(number) if number is not None else None,
        "conversation.subject": conversation.get("subject"),
        "product.name": context.get("product_name"),
        "order.id": context.get("order_id"),
        "agent.name": agent,
    }
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def render(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The rendered text and the placeholders that had no value (fallback or empty used)."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in values:
            return values[key]
        missing.append(key)
        return FALLBACKS.get(key, "")

    return PLACEHOLDER.sub(substitute, text), sorted(set(missing))
