"""SLA due times. The skeleton counts calendar hours; the router issue adds business hours
(Asia/Seoul, weekdays, Korean public holidays) and pausing while pending."""

from __future__ import annotations

from datetime import datetime, timedelta

from inbox_core.schema import Priority, SlaState


def first_response_sla(
    received_at: datetime, priority: Priority, hours: dict[Priority, float]
) -> SlaState:
    due = received_at + timedelta(hours=hours.get(priority, 24))
    return SlaState(policy=f"{priority.value}:{hours.get(priority, 24)}h", first_response_due=due)
