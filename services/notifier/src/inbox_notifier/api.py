"""The agent HTTP API (JSON): one route module per resource (`api_<resource>.py`), each
going through a store-facing class, installed here in one order, which is also the order
of /openapi.json. Routes are declared with their pydantic models (see routing.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox_core.runtime import Runtime
from inbox_core.store import Store
from inbox_notifier import __version__, audit
from inbox_notifier.api_agents import TOKENS, agents_api
from inbox_notifier.api_attachments import (
    ATTACHMENT_FILES,
    document_upload,
    download_api,
    upload_api,
)
from inbox_notifier.api_canned import CANNED_RESPONSES, canned_api
from inbox_notifier.api_channels import channels_api
from inbox_notifier.api_common import DESK
from inbox_notifier.api_conversations import CONVERSATION_READS, conversations_api
from inbox_notifier.api_customers import CUSTOMERS_STORE, customers_api
from inbox_notifier.api_dead_letters import DEAD_LETTERS, dead_letters_api
from inbox_notifier.api_desk import desk_api
from inbox_notifier.api_events import events_api
from inbox_notifier.api_faq import FAQ_CATALOG, FAQ_ENTRIES, faq_api
from inbox_notifier.api_reports import reports_api
from inbox_notifier.api_routing import ROUTING_STATE, routing_api
from inbox_notifier.attachment_files import AttachmentFiles
from inbox_notifier.canned import CannedResponses
from inbox_notifier.conversation_reads import ConversationReads
from inbox_notifier.customers import Customers
from inbox_notifier.dead_letters import DeadLetters
from inbox_notifier.faq_entries import FaqEntries
from inbox_notifier.routing import RouteTable, openapi
from inbox_notifier.routing_state import RoutingState

__all__ = ["DESK", "ROUTE_TABLES", "TOKENS", "install_api"]

ROUTE_TABLES: tuple[RouteTable, ...] = (
    conversations_api,
    download_api,
    agents_api,
    canned_api,
    customers_api,
    dead_letters_api,
    events_api,
    desk_api,
    upload_api,
    faq_api,
    audit.routes,
    routing_api,
    reports_api,
    channels_api,
)


def install_api(app: web.Application, runtime: Runtime) -> dict[str, Any]:
    """Put the store-facing classes on the app, install every route; the OpenAPI document.
    (The desk, the tokens and the FAQ catalog are put on the app by app.py.)"""
    store: Store = runtime.store
    app[CONVERSATION_READS] = ConversationReads(store)
    app[ATTACHMENT_FILES] = AttachmentFiles(store)
    app[CANNED_RESPONSES] = CannedResponses(store)
    app[CUSTOMERS_STORE] = Customers(store, runtime.bus)
    app[DEAD_LETTERS] = DeadLetters(runtime)
    app[FAQ_ENTRIES] = FaqEntries(store, app[FAQ_CATALOG])
    app[audit.AUDIT_LOG] = audit.AuditLog(store)
    app[ROUTING_STATE] = RoutingState(runtime)
    for table in ROUTE_TABLES:
        table.install(app)
    spec = openapi(
        RouteTable([route for table in ROUTE_TABLES for route in table.routes]),
        title="Omnichannel inbox agent API",
        version=__version__,
    )
    document_upload(spec)
    return spec
