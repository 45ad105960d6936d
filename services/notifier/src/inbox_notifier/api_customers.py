"""Customer routes of the agent API: one customer's identities and history across channels,
and the merge of two customers (admin)."""

from __future__ import annotations

from aiohttp import web

from inbox_notifier.auth import AGENT, require_admin
from inbox_notifier.customers import Customers, identity_parts
from inbox_notifier.models import CustomerOut, MergeIn
from inbox_notifier.queue import conversation_view, message_view
from inbox_notifier.routing import RouteTable

CUSTOMERS_STORE = web.AppKey("customers", Customers)

customers_api = RouteTable()


async def _customer_out(customers: Customers, customer_id: str) -> CustomerOut:
    doc = await customers.resolve(customer_id)
    convs = await customers.conversations(doc["_id"])
    history = await customers.history([c["_id"] for c in convs])
    return CustomerOut.model_validate(
        {
            "id": doc["_id"],
            "name": doc.get("name"),
            "emails": doc.get("emails", []),
            "phones": doc.get("phones", []),
            "identities": [identity_parts(i) for i in doc.get("identities", [])],
            "conversations": [conversation_view(c) for c in convs],
            "history": [message_view(m) for m in history],
            "merged_from": await customers.merged_from(doc["_id"]),
        }
    )


@customers_api.add(
    "GET",
    "/api/customers/{customer_id}",
    response=CustomerOut,
    errors=(404,),
    tag="customers",
    summary="A customer with identities and history across channels",
)
async def get_customer(request: web.Request) -> CustomerOut:
    return await _customer_out(request.app[CUSTOMERS_STORE], request.match_info["customer_id"])


@customers_api.add(
    "POST",
    "/api/customers/{customer_id}/merge",
    body=MergeIn,
    response=CustomerOut,
    errors=(403, 404, 409, 503),
    tag="customers",
    summary="Merge another customer into this one (one history across channels; admin)",
)
async def merge_customers(request: web.Request, body: MergeIn) -> CustomerOut:
    require_admin(request)
    customers = request.app[CUSTOMERS_STORE]
    target_id = await customers.merge(
        request.match_info["customer_id"], body.other_id, request[AGENT]
    )
    return await _customer_out(customers, target_id)
