"""The event-stream route of the agent API (Server-Sent Events, see stream.py)."""

from __future__ import annotations

from inbox_notifier.models import EventsQuery
from inbox_notifier.routing import RouteTable
from inbox_notifier.stream import stream_events

events_api = RouteTable()

events_api.add(
    "GET",
    "/api/events",
    query=EventsQuery,
    tag="events",
    summary="Server-Sent Events; resume with Last-Event-ID; filters ?types= and ?team=",
)(stream_events)
