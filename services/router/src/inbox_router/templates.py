"""Placeholders in private notes and auto-replies: `{{customer.name}}`, `{{product.name|상품}}`.

The grammar and the renderer are inbox_core's (`inbox_core.placeholders`): `{{ name }}` or
`{{ name | fallback }}`; an unknown name is refused when the rules file is loaded. A value
that is missing renders as its fallback, or as nothing.

`{{conversation.number}}` is special: a new conversation gets its number from the notifier
after routing, so when the number is not known yet the router leaves the placeholder in the
text exactly as `{{conversation.number}}` (no spaces, no fallback) and the notifier replaces
it when it stores the note or sends the auto-reply. For an existing conversation the router
renders the number itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from inbox_core import placeholders
from inbox_core.calendar import BusinessCalendar
from inbox_core.placeholders import DEFERRED_NUMBER, NUMBER, unbalanced, unknown_placeholders
from inbox_core.schema import InboundMessage, RoutingDecision
from inbox_router.facts import MatchFacts

__all__ = ["DEFERRED_NUMBER", "NUMBER", "VARIABLES", "check_template", "render"]

EXCERPT_CHARS: Final = 100
WEEKDAYS_KO: Final = "월화수목금토일"

VARIABLES: Final = {
    "customer.name": "the customer's name as the channel gives it",
    "customer.email": "the customer's e-mail address",
    "customer.phone": "the customer's phone number",
    "customer.id": "the linked customer id",
    "conversation.number": "the short number shown as [#number] (see above)",
    "conversation.id": "the conversation id",
    "message.channel": "mail, kakao, naver_commerce, …",
    "message.account": "the mailbox, page or shop",
    "message.subject": "the subject",
    "message.excerpt": f"the first {EXCERPT_CHARS} characters of the text",
    "product.name": "context product_name (marketplace Q&A)",
    "product.id": "context product_id",
    "order.id": "context order_id",
    "rule.name": "the rule whose note or auto-reply is rendered",
    "decision.team": "the team chosen",
    "decision.priority": "urgent, high, normal or low",
    "decision.tags": "the tags, comma-separated",
    "decision.reasons": "why the rules matched, '; '-separated",
    "sla.first_response_due": "e.g. 10월 10일(금) 10:00, in the calendar's time zone",
    "sla.next_response_due": "the same for the next response",
    "business.next_open": "the next opening time, e.g. 10월 10일(금) 09:00",
    "business.open": "'영업시간' or '영업시간 외'",
}


def check_template(text: str) -> str:
    """Refuse unknown placeholders and unbalanced braces (a pydantic AfterValidator)."""
    unknown = unknown_placeholders(text, VARIABLES.keys())
    if unknown:
        names = ", ".join("{{" + u + "}}" for u in unknown)
        raise ValueError(f"unknown placeholder {names}; known: {', '.join(sorted(VARIABLES))}")
    if unbalanced(text):
        raise ValueError("unbalanced '{{' or '}}' (a placeholder is {{name}} or {{name|fallback}})")
    return text


def format_local(at: datetime | None, calendar: BusinessCalendar) -> str | None:
    """'10월 10일(금) 10:00' in the calendar's time zone."""
    if at is None:
        return None
    local = at.astimezone(calendar.tz)
    return f"{local.month}월 {local.day}일({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M}"


def _context(message: InboundMessage, *names: str) -> str | None:
    for name in names:
        value = message.context.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def template_values(
    message: InboundMessage, facts: MatchFacts, decision: RoutingDecision
) -> dict[str, str | None]:
    cal = facts.calendar
    number = facts.conversation.number
    return {
        "customer.name": message.customer.name,
        "customer.email": message.customer.email,
        "customer.phone": message.customer.phone,
        "customer.id": facts.customer.id,
        "conversation.number": str(number) if number is not None else None,
        "conversation.id": facts.conversation.id,
        "message.channel": message.channel,
        "message.account": message.account,
        "message.subject": message.subject,
        "message.excerpt": " ".join(message.text.split())[:EXCERPT_CHARS] or None,
        "product.name": _context(message, "product_name", "productName"),
        "product.id": _context(message, "product_id", "productId"),
        "order.id": _context(message, "order_id", "orderId"),
        "decision.team": decision.team,
        "decision.priority": decision.priority.value,
        "decision.tags": ", ".join(decision.tags) or None,
        "decision.reasons": "; ".join(decision.reasons) or None,
        "sla.first_response_due": format_local(decision.sla.first_response_due, cal),
        "sla.next_response_due": format_local(decision.sla.next_response_due, cal),
        "business.next_open": format_local(cal.next_open(message.received_at), cal),
        "business.open": "영업시간" if cal.is_open(message.received_at) else "영업시간 외",
    }


def render(text: str, values: Mapping[str, str | None]) -> str:
    """A note or auto-reply; the number of a conversation not created yet stays deferred."""
    return placeholders.render(text, values, deferred=(NUMBER,))[0]
