"""What the routing admin routes read and ask: the router's model (router-owned
`routing_state`, read only), the corrections per category (notifier-owned), and the
retrain, a request to the router over the bus."""

from __future__ import annotations

from typing import Any, Final

import orjson
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from inbox_core import subjects
from inbox_core.runtime import Runtime
from inbox_core.store import ROUTING_STATE
from inbox_notifier.corrections import counts_by_category
from inbox_notifier.routing import ApiError

RETRAIN_TIMEOUT_S: Final = 300.0  # training takes seconds; a loaded machine may take a minute


class RoutingState:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def model(self) -> dict[str, Any]:
        """The router's current model document ({} before a router trained one)."""
        return await self.runtime.store.db[ROUTING_STATE].find_one({"_id": "model"}) or {}

    async def corrections_by_category(self) -> dict[str, int]:
        return await counts_by_category(self.runtime.store.db)

    async def retrain(self) -> dict[str, Any]:
        """The router's answer to a retrain request; 503 when no router can answer."""
        nc = self.runtime.bus.nc
        if nc is None or not nc.is_connected:
            raise ApiError(503, "bus_unavailable", "the bus is unavailable; try again")
        try:
            reply = await nc.request(subjects.ROUTER_RETRAIN, b"{}", timeout=RETRAIN_TIMEOUT_S)
        except NoRespondersError as err:
            raise ApiError(503, "router_unavailable", "no router is running to retrain") from err
        except NatsTimeoutError as err:
            raise ApiError(503, "router_timeout", "the router did not answer in time") from err
        answer: dict[str, Any] = orjson.loads(reply.data)
        return answer
