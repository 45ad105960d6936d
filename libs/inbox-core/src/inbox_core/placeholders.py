"""The one template renderer: placeholders in canned responses, agent replies, FAQ answers
(notifier) and in the router's private notes and auto-replies.

Grammar (the README's): `{{name}}` or `{{name|fallback}}`, spaces allowed inside the braces;
a name is dotted (`customer.name`). A value that is missing renders as the placeholder's own
fallback, else as the caller's default for that name, else as nothing. Which names exist
depends on where the text is used: the notifier's are `KNOWN`, the router has its own
(`inbox_router.templates.VARIABLES`); unknown names are refused when the text is saved.

`{{conversation.number}}` may be deferred: the router does not know a new conversation's
number, so it leaves the placeholder in the text exactly as `DEFERRED_NUMBER` and the notifier
fills it in when it stores the note or sends the auto-reply (`fill_deferred_number`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Final

PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*(?:\|([^}]*))?\}\}")
NUMBER: Final = "conversation.number"
DEFERRED_NUMBER: Final = "{{conversation.number}}"

# What a placeholder falls back to in an agent's or the bot's text when the conversation has
# no value for it and the text gives no fallback, so a reply never reads "님, 안녕하세요".
FALLBACKS: Final = {
    "customer.name": "고객",
    "product.name": "상품",
}
KNOWN: Final = frozenset(
    {
        "customer.name",
        "customer.email",
        "conversation.number",
        "conversation.subject",
        "product.name",
        "order.id",
        "agent.name",
    }
)


def placeholder_names(text: str) -> set[str]:
    return {m.group(1) for m in PLACEHOLDER.finditer(text)}


def unknown_placeholders(text: str, known: Collection[str] = KNOWN) -> list[str]:
    return sorted(placeholder_names(text) - set(known))


def unbalanced(text: str) -> bool:
    """Braces left over once every placeholder is taken out (`{{customer.name}` or `}}`)."""
    leftover = PLACEHOLDER.sub("", text)
    return "{{" in leftover or "}}" in leftover


def render(
    text: str,
    values: Mapping[str, str | None],
    *,
    defaults: Mapping[str, str] | None = None,
    deferred: Collection[str] = (),
    only: Collection[str] | None = None,
) -> tuple[str, list[str]]:
    """The rendered text and the names that had no value (a fallback or nothing was used).

    `deferred` names with no value stay in the text as `{{name}}`, for a later render;
    with `only`, every other placeholder is left as it is."""
    missing: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if only is not None and name not in only:
            return match.group(0)
        value = values.get(name)
        if value:
            return value
        missing.add(name)
        if name in deferred:
            return "{{" + name + "}}"
        if fallback is not None and fallback.strip():
            return fallback.strip()
        return (defaults or {}).get(name, "")

    return PLACEHOLDER.sub(substitute, text), sorted(missing)


def render_reply(text: str, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """An agent's, a canned or the bot's text: names without a fallback of their own fall
    back to `FALLBACKS`."""
    return render(text, values, defaults=FALLBACKS)


def fill_deferred_number(text: str, number: int | str | None) -> str:
    """The router's text with the conversation number the notifier gave it."""
    value = str(number) if number not in (None, "") else None
    return render(text, {NUMBER: value}, only=(NUMBER,))[0]


def values_for(conversation: dict[str, Any], context: dict[str, Any], agent: str) -> dict[str, str]:
    """The notifier's values for a conversation, its latest message's context and the agent."""
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
