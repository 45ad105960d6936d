"""A local Naver TalkTalk: the chatbot send API and the events TalkTalk pushes to a webhook.

The platform side of shared/channels/naver-talktalk.md, for tests and `make demo`:

- `POST /chatbot/v1/event` (send API, §4): `Authorization: <token>` (raw); answers HTTP 200
  `{"success": true, "resultCode": "00"}`, or `success: false` with resultCode 01 (key),
  02 (unreadable request) or 99 (other). Like TalkTalk, every accepted message is echoed
  to the webhook (`event: echo`) when echoes are on, before the answer is sent.
- `POST /_sim/deliver` `{"event", "user"?, "text"?, "image_url"?, "standby"?, "target"?}`:
  POSTs a webhook event (`send`, `open`, `leave`, `friend`) to `target` (default:
  `--webhook`), as TalkTalk does (no signature); answers `{"status", "body", "event"}`.
- `POST /_sim/agent` `{"user", "text", "target"?}`: an agent types in the partner center:
  the customer gets it and the webhook gets its echo.
- `POST /_sim/webhook` `{"url"}`: registers the webhook URL (the partner center's
  "이벤트 받을 URL"), where events and echoes go by default.
- `GET /_sim/sent`: messages customers received, oldest first (`via`: send_api, partner_center).
  An `imageContent` is downloaded from its `imageUrl` as TalkTalk does (JPG/PNG/GIF, 20 MB,
  10 s; IMG-01/02/03 otherwise); `GET /_sim/images` lists what was fetched.
- `POST /_sim/fail` `{"status"?, "resultCode"?, "resultMessage"?, "count"?, "retry_after"?}`:
  the next send API calls fail (an HTTP status, optionally with `Retry-After`, or HTTP 200
  with that resultCode).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

from inbox_core.simulator import (
    add_failure_route,
    add_sent_route,
    serve,
    simulator_parser,
    take_failure,
    with_client_session,
)

DEFAULT_PORT: Final = 9083
DEFAULT_PARTNER: Final = "wc8b1i"
DEFAULT_USER: Final = "al-2eGuGr5WQOnco1_V-FQ"
MAX_TEXT_CHARS: Final = 10_000
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif"})
MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
WEBHOOK_READ_TIMEOUT_S: Final = 5.0  # TalkTalk: connect 3 s, read 5 s
CONTENT_KEYS: Final = ("textContent", "imageContent", "compositeContent")


def build_event(
    event: str,
    user: str = DEFAULT_USER,
    *,
    text: str | None = None,
    image_url: str | None = None,
    standby: bool = False,
) -> dict[str, Any]:
    """A webhook event as TalkTalk posts it (§3)."""
    if event == "send":
        body: dict[str, Any] = {"event": "send", "user": user, "options": {"mobile": True}}
        if image_url:
            body["imageContent"] = {"imageUrl": image_url}
        else:
            body["textContent"] = {"text": text or "", "inputType": "typing"}
        if standby:
            body["standby"] = True
        return body
    if event == "open":
        options = {
            "inflow": "button",
            "referer": "https://smartstore.naver.com/myshop/products/309672359",
            "from": "309672359",
            "friend": False,
            "under14": False,
            "under19": False,
            "unreadMessage": True,
        }
        return {"event": "open", "user": user, "options": options}
    if event == "friend":
        return {"event": "friend", "user": user, "options": {"set": "on"}}
    return {"event": event, "user": user}


def echo_event(user: str, partner: str, text: str) -> dict[str, Any]:
    return {
        "event": "echo",
        "echoedEvent": "send",
        "user": user,
        "partner": partner,
        "textContent": {"text": text},
        "options": {"mobile": False},
    }


@dataclass
class SimState:
    token: str
    webhook: str | None = None
    partner: str = DEFAULT_PARTNER
    echo: bool = True
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)  # downloaded imageContent
    http: aiohttp.ClientSession | None = None

    async def post(self, target: str, event: dict[str, Any]) -> tuple[int | None, str]:
        """POST one event to a webhook, as TalkTalk does: plain JSON, no signature."""
        assert self.http is not None
        try:
            async with self.http.post(
                target,
                data=json.dumps(event, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json;charset=UTF-8"},
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_READ_TIMEOUT_S),
            ) as resp:
                return resp.status, await resp.text()
        except (TimeoutError, aiohttp.ClientError) as err:
            return None, repr(err)


STATE = web.AppKey("talktalk_sim", SimState)


def _result(code: str, message: str) -> web.Response:
    body = {"success": code == "00", "resultCode": code}
    if code != "00":
        body["resultMessage"] = message
    return web.json_response(body)


async def _fetch_image(state: SimState, url: object) -> tuple[str, str] | None:
    """As TalkTalk does: download the image once (10 s), JPG/PNG/GIF up to 20 MB; the
    result code of a failure, or None. What it fetched is kept in `images`."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "02", "request json 문자열 파싱 에러"
    try:
        assert state.http is not None
        async with state.http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            data = await resp.read()
            content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
            status = resp.status
    except TimeoutError:
        return "IMG-02", "이미지 다운로드 시간 초과"
    except aiohttp.ClientError:
        return "99", "이미지를 가져올 수 없습니다"
    if status != 200 or content_type not in IMAGE_TYPES:
        return "IMG-01", "이미지 형식 오류 (JPG, JPEG, PNG, GIF)"
    if len(data) > MAX_IMAGE_BYTES:
        return "IMG-03", "이미지 용량 초과 (20MB)"
    state.images.append(
        {
            "url": url,
            "content_type": content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    )
    return None


async def send_event(request: web.Request) -> web.Response:
    state = request.app[STATE]
    key = request.headers.get("Authorization", "")
    if not hmac.compare_digest(key.encode(), state.token.encode()):
        return _result("01", "Authorization 정보 에러")
    if failure := take_failure(state.failures):
        if failure["status"] != 200:
            headers = {"Retry-After": failure["retry_after"]} if failure["retry_after"] else None
            return web.json_response(
                {"error": "simulated outage"}, status=failure["status"], headers=headers
            )
        return _result(failure["resultCode"], failure["resultMessage"])
    try:
        body = json.loads(await request.read())
        event, user = body["event"], body.get("user")
    except (ValueError, KeyError, TypeError):
        return _result("02", "request json 문자열 파싱 에러")
    if event == "action":
        return _result("00", "")
    contents = [k for k in CONTENT_KEYS if isinstance(body.get(k), dict)]
    if event != "send" or not isinstance(user, str) or not user or len(contents) != 1:
        return _result("02", "request json 문자열 파싱 에러")
    text = body.get("textContent", {}).get("text")
    if contents == ["textContent"] and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
        return _result("99", "textContent.text는 1만자 이내여야 합니다")
    if contents == ["imageContent"]:
        problem = await _fetch_image(state, body["imageContent"].get("imageUrl"))
        if problem is not None:
            return _result(*problem)
    state.sent.append(
        {
            "via": "send_api",
            "user": user,
            "content": {contents[0]: body[contents[0]]},
            "options": body.get("options", {}),
            "at": time.time(),
        }
    )
    if state.echo and state.webhook and isinstance(text, str):
        await state.post(state.webhook, echo_event(user, state.partner, text))
    return _result("00", "")


async def deliver(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = await request.json()
        event = str(spec["event"])
        target = str(spec.get("target") or state.webhook or "")
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {event, target?, ...}"}, status=400)
    if not target:
        return web.json_response({"error": "no target and no --webhook"}, status=400)
    body = build_event(
        event,
        str(spec.get("user") or DEFAULT_USER),
        text=spec.get("text"),
        image_url=spec.get("image_url"),
        standby=bool(spec.get("standby")),
    )
    status, answer = await state.post(target, body)
    return web.json_response({"status": status, "body": answer, "event": body})


async def agent(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = await request.json()
        user, text = str(spec["user"]), str(spec["text"])
        target = str(spec.get("target") or state.webhook or "")
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {user, text, target?}"}, status=400)
    state.sent.append(
        {"via": "partner_center", "user": user, "content": {"textContent": {"text": text}}}
    )
    status, answer = (None, "no webhook")
    if target:
        status, answer = await state.post(target, echo_event(user, state.partner, text))
    return web.json_response({"status": status, "body": answer})


async def register_webhook(request: web.Request) -> web.Response:
    try:
        url = str((await request.json())["url"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {url}"}, status=400)
    request.app[STATE].webhook = url
    return web.json_response({"webhook": url})


async def images(request: web.Request) -> web.Response:
    return web.json_response({"images": request.app[STATE].images})


def _failure(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": int(spec.get("status", 200)),
        "resultCode": str(spec.get("resultCode", "99")),
        "resultMessage": str(spec.get("resultMessage") or "simulated error"),
        "count": int(spec.get("count", 1)),
        "retry_after": str(spec["retry_after"]) if spec.get("retry_after") else None,
    }


def create_app(
    token: str, *, webhook: str | None = None, partner: str = DEFAULT_PARTNER, echo: bool = True
) -> web.Application:
    app = web.Application()
    state = SimState(token=token, webhook=webhook, partner=partner, echo=echo)
    app[STATE] = state
    with_client_session(app, lambda http: setattr(state, "http", http))
    app.router.add_post("/chatbot/v1/event", send_event)
    app.router.add_post("/_sim/deliver", deliver)
    app.router.add_post("/_sim/agent", agent)
    app.router.add_post("/_sim/webhook", register_webhook)
    add_sent_route(app, lambda a: a[STATE].sent)
    app.router.add_get("/_sim/images", images)
    add_failure_route(
        app, lambda a: a[STATE].failures, _failure, usage="expected {status?, resultCode?, ...}"
    )
    return app


def main(argv: list[str] | None = None) -> None:
    parser = simulator_parser(
        "inbox-sim-naver-talktalk",
        "Local Naver TalkTalk (chatbot send API + webhook events)",
        DEFAULT_PORT,
    )
    parser.add_argument("--token", default=os.environ.get("NAVER_TALKTALK_TOKEN"))
    parser.add_argument("--webhook", default=None, help="e.g. .../webhooks/naver-talktalk")
    parser.add_argument("--partner", default=DEFAULT_PARTNER)
    parser.add_argument("--no-echo", action="store_true", help="do not echo sends")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or NAVER_TALKTALK_TOKEN) is required")
    app = create_app(args.token, webhook=args.webhook, partner=args.partner, echo=not args.no_echo)
    serve(app, args, "Naver TalkTalk simulator")


if __name__ == "__main__":
    main()
