"""What the router knows about a message beyond its text, gathered from the store before the
rules run. The rules engine itself stays pure: same message + same facts → same decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from inbox_core.calendar import BusinessCalendar

DEFAULT_CALENDAR: Final = BusinessCalendar()


@dataclass(frozen=True)
class CustomerFacts:
    id: str | None = None
    # Marked VIP in the customer record (`customers.vip`); the rules file's VIP list is
    # checked by the rule set itself.
    vip: bool = False
    # Other conversations of this customer (0: first contact); the store is asked for one.
    earlier_conversations: int = 0
    # The latest activity in another conversation of this customer, if any.
    last_other_contact_at: datetime | None = None

    def contacted_within(self, window: timedelta, at: datetime) -> bool:
        last = self.last_other_contact_at
        return last is not None and at - window <= last <= at + window


@dataclass(frozen=True)
class ConversationFacts:
    id: str | None = None
    number: int | None = None  # unknown for a conversation the notifier has not stored yet
    created: bool = True  # this message starts the conversation


@dataclass(frozen=True)
class MatchFacts:
    customer: CustomerFacts = field(default_factory=CustomerFacts)
    conversation: ConversationFacts = field(default_factory=ConversationFacts)
    calendar: BusinessCalendar = DEFAULT_CALENDAR
