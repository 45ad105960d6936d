"""A Shop Chat platform on one machine: customers write (`POST /_sim/say` signs and pushes
the webhook to the inbox), replies arrive on the send API and are kept for `GET /_sim/sent`,
and `POST /_sim/fail` `{"status", "retry_after"?, "count"?}` makes the next sends fail.

    inbox-sim-shop-chat --port 9400 --webhook http://127.0.0.1:8081/webhooks/shop-chat \\
        --secret s3cret --token t0ken
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from inbox_example_shop_chat.channel import SIGNATURE_HEADER, signature

SHOP = "shop-1"


@dataclass
class Platform:
    webhook: str
    secret: str
    token: str
    shop: str = SHOP
    sent: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=itertools.count)


PLATFORM = web.AppKey("platform", Platform)


async def say(request: web.Request) -> web.Response:
    """A customer writes: the signed webhook goes to the inbox; its answer is returned."""
    platform = request.app[PLATFORM]
    spec = await request.json()
    event = {
        "event_id": f"evt-{next(platform.ids)}-{datetime.now(UTC).timestamp():.6f}",
        "shop": platform.shop,
        "user": {"id": str(spec.get("user", "u1")), "name": spec.get("name")},
        "text": str(spec.get("text", "")),
        "sent_at": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(event, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    headers[SIGNATURE_HEADER] = signature(body, platform.secret)
    async with (
        aiohttp.ClientSession() as http,
        http.post(platform.webhook, data=body, headers=headers) as resp,
    ):
        return web.json_response({"status": resp.status, "event": event})


async def send_message(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    if request.headers.get("Authorization") != f"Bearer {platform.token}":
        return web.json_response({"error": "invalid token"}, status=401)
    if platform.faults:
        fault = platform.faults[0]
        fault["count"] -= 1
        if fault["count"] <= 0:
            platform.faults.pop(0)
        headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") else {}
        return web.json_response({"error": "simulated"}, status=fault["status"], headers=headers)
    body = await request.json()
    if not isinstance(body, dict) or not body.get("to") or not body.get("text"):
        return web.json_response({"error": "to and text are required"}, status=400)
    message_id = f"msg-{next(platform.ids)}"
    platform.sent.append({**body, "message_id": message_id})
    return web.json_response({"message_id": message_id})


async def fail(request: web.Request) -> web.Response:
    spec = await request.json()
    request.app[PLATFORM].faults.append(
        {
            "status": int(spec["status"]),
            "retry_after": spec.get("retry_after"),
            "count": int(spec.get("count", 1)),
        }
    )
    return web.json_response({"ok": True})


async def sent(request: web.Request) -> web.Response:
    return web.json_response({"messages": request.app[PLATFORM].sent})


def create_app(webhook: str, secret: str, token: str) -> web.Application:
    app = web.Application()
    app[PLATFORM] = Platform(webhook, secret, token)
    app.router.add_post("/_sim/say", say)
    app.router.add_post("/_sim/fail", fail)
    app.router.add_get("/_sim/sent", sent)
    app.router.add_post("/v1/messages", send_message)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="inbox-sim-shop-chat", description=__doc__)
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--webhook", required=True, help="the inbox's webhook URL")
    parser.add_argument("--secret", required=True, help="signs the webhooks")
    parser.add_argument("--token", required=True, help="expected on the send API")
    args = parser.parse_args(argv)
    web.run_app(
        create_app(args.webhook, args.secret, args.token),
        host="127.0.0.1",
        port=args.port,
        print=None,
    )


if __name__ == "__main__":
    main()
