"""A local Kakao: Open Builder calling a skill server, the callback API, and a 상담톡 dealer.

The platform side of shared/channels/kakao.md, for tests and `make demo`:

- `POST /_sim/utter` `{"utterance", "target"?, "user_key"?, "bot_user_key"?, "callback"?,
  "skill_token"?}`: sends a SkillPayload (§2) to `target` (default: `--webhook`) with the
  `X-Skill-Token` header, waits at most 5 s (§4), checks the SkillResponse (§3: version
  "2.0", 1–3 outputs, simpleText ≤ 1000, ≤ 10 quickReplies; `useCallback` only when the
  block has callback on) and answers `{"status", "body", "problems", "callback_url"}`
  (`status` null and a problem when the skill server could not be reached in time).
  With `"callback": true` the payload carries a `callbackUrl` on this simulator.
- `POST /v1/bots/{bot_id}/callback/{token}` (§5): single use, valid `--callback-ttl`
  seconds (60); answers `{"taskId", "status": "SUCCESS"|"FAIL", "message", "timestamp"}`.
- `POST /v1/chat/write` (§7, HappyTalk's 상담톡 shape): headers `HT-Client-Id` and
  `HT-Client-Secret`; body `user_key` (≤ 20), `sender_key`, `serial_number` (≤ 30),
  `message_type` "TX", `message` (≤ 1000). Only users who wrote to the channel have a
  session. Answers `{"code": "200", "message": ""}` or an error code.
- `GET /_sim/sent`: the bubbles users saw, oldest first (`via`: skill, callback, consult).
- `POST /_sim/fail` `{"status"?, "code"?, "message"?, "count"?}`: the next dealer calls fail.
- `POST /_sim/expire_callbacks`: every callback URL handed out so far expires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
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

DEFAULT_PORT: Final = 9082
DEFAULT_BOT_ID: Final = "5ae9b76d7409b11ec845b746"
SKILL_TIMEOUT_S: Final = 5.0
CALLBACK_TTL_S: Final = 60.0
TEXT_LIMIT: Final = 1000
COMPONENTS: Final = frozenset(
    {"simpleText", "simpleImage", "basicCard", "commerceCard", "listCard", "itemCard", "carousel"}
)
INVALID_TOKEN: Final = "Invalid callback token. Check your callback token."


def bot_user_key_for(user_key: str) -> str:
    """A stable botUserKey (64 hex characters and a suffix, as Kakao's look)."""
    return hashlib.sha256(f"bot:{user_key}".encode()).hexdigest() + "30"


def build_skill_payload(
    utterance: str,
    *,
    bot_id: str = DEFAULT_BOT_ID,
    user_key: str = "T8x9DhjAiBrv",
    bot_user_key: str | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """A SkillPayload as Open Builder posts it for a fallback block (§2)."""
    block = {"id": "64f0c1d2e3a4b5c6d7e8f901", "name": "폴백 블록"}
    user_request: dict[str, Any] = {
        "timezone": "Asia/Seoul",
        "params": {"surface": "Kakaotalk.plusfriend"},
        "block": block,
        "utterance": utterance,
        "lang": "ko",
        "user": {
            "id": bot_user_key or bot_user_key_for(user_key),
            "type": "botUserKey",
            "properties": {"plusfriendUserKey": user_key, "isFriend": True},
        },
    }
    if callback_url:
        user_request["callbackUrl"] = callback_url
    return {
        "intent": {"id": block["id"], "name": block["name"]},
        "userRequest": user_request,
        "bot": {"id": bot_id, "name": "우리가게 상담봇"},
        "action": {
            "id": "64f0c1d2e3a4b5c6d7e8f999",
            "name": "inbox-ingress",
            "params": {},
            "detailParams": {},
            "clientExtra": {},
        },
        "contexts": [],
    }


def validate_skill_response(body: object, *, callback_enabled: bool) -> list[str]:
    """What Kakao would refuse in a SkillResponse (§3, §5); empty when it is valid."""
    if not isinstance(body, dict):
        return ["the response is not a JSON object"]
    if body.get("version") != "2.0":
        return ['version must be "2.0"']
    if body.get("useCallback") is True:
        if not callback_enabled:
            return ["useCallback without a callback-enabled block"]
        data = body.get("data")
        return [] if data is None or isinstance(data, dict) else ["data must be an object"]
    template = body.get("template")
    if not isinstance(template, dict):
        return ["template is missing"]
    outputs = template.get("outputs")
    if not isinstance(outputs, list) or not 1 <= len(outputs) <= 3:
        return ["template.outputs must hold 1 to 3 components"]
    problems: list[str] = []
    for i, output in enumerate(outputs):
        if not isinstance(output, dict) or len(output) != 1 or not set(output) <= COMPONENTS:
            problems.append(f"outputs[{i}] is not one known component")
            continue
        simple = output.get("simpleText")
        if simple is not None:
            text = simple.get("text") if isinstance(simple, dict) else None
            if not isinstance(text, str) or not text or len(text) > TEXT_LIMIT:
                problems.append(f"outputs[{i}].simpleText.text must hold 1 to 1000 characters")
        image = output.get("simpleImage")
        if image is not None:
            url = image.get("imageUrl") if isinstance(image, dict) else None
            alt = image.get("altText") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                problems.append(f"outputs[{i}].simpleImage.imageUrl must be an http(s) URL")
            if not isinstance(alt, str) or not alt or len(alt) > TEXT_LIMIT:
                problems.append(f"outputs[{i}].simpleImage.altText must hold 1 to 1000 characters")
    replies = template.get("quickReplies", [])
    if not isinstance(replies, list) or len(replies) > 10:
        problems.append("quickReplies holds at most 10")
    return problems


def bubble_images(body: dict[str, Any]) -> list[str]:
    outputs = body.get("template", {}).get("outputs", [])
    return [o["simpleImage"]["imageUrl"] for o in outputs if "simpleImage" in o]


def bubble_texts(body: dict[str, Any]) -> list[str]:
    outputs = body.get("template", {}).get("outputs", [])
    return [o["simpleText"]["text"] for o in outputs if "simpleText" in o]


@dataclass
class Callback:
    user_key: str
    expires: float
    used: bool = False


@dataclass
class SimState:
    skill_token: str | None
    bot_id: str = DEFAULT_BOT_ID
    webhook: str | None = None
    callback_ttl_s: float = CALLBACK_TTL_S
    skill_timeout_s: float = SKILL_TIMEOUT_S
    client_id: str | None = None
    client_secret: str | None = None
    sender_key: str | None = None
    callbacks: dict[str, Callback] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    serials: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None

    def show(
        self, via: str, user_key: str, texts: list[str], images: list[str] | None = None
    ) -> None:
        shown = {"via": via, "user_key": user_key, "texts": texts, "at": time.time()}
        if images:
            shown["images"] = images
        self.sent.append(shown)


STATE = web.AppKey("kakao_sim", SimState)


async def utter(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = await request.json()
        utterance = str(spec["utterance"])
        target = str(spec.get("target") or state.webhook or "")
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {utterance, target?}"}, status=400)
    if not target:
        return web.json_response({"error": "no target and no --webhook"}, status=400)
    user_key = str(spec.get("user_key") or "T8x9DhjAiBrv")
    callback_url = None
    if spec.get("callback"):
        token = secrets.token_urlsafe(24)
        state.callbacks[token] = Callback(user_key, time.monotonic() + state.callback_ttl_s)
        callback_url = f"{_own_origin(request)}/v1/bots/{state.bot_id}/callback/{token}"
    payload = build_skill_payload(
        utterance,
        bot_id=state.bot_id,
        user_key=user_key,
        bot_user_key=spec.get("bot_user_key"),
        callback_url=callback_url,
    )
    headers = {"Content-Type": "application/json"}
    token = spec.get("skill_token", state.skill_token)
    if token:
        headers["X-Skill-Token"] = str(token)
    state.sessions.add(user_key)  # the customer wrote to the channel: a 상담톡 session opens
    assert state.http is not None
    try:
        async with state.http.post(
            target,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=state.skill_timeout_s),
        ) as resp:
            status, raw = resp.status, await resp.read()
    except TimeoutError:
        return _utter_answer(None, None, ["스킬 서버 타임아웃 (1001)"], callback_url)
    except aiohttp.ClientError as err:
        return _utter_answer(None, None, [f"could not reach {target}: {err!r}"], callback_url)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    problems = (
        validate_skill_response(body, callback_enabled=callback_url is not None)
        if status == 200
        else [f"HTTP {status}"]
    )
    if not problems and isinstance(body, dict) and not body.get("useCallback"):
        state.show("skill", user_key, bubble_texts(body))
    return _utter_answer(status, body, problems, callback_url)


def _own_origin(request: web.Request) -> str:
    """This simulator's address as bound (not the caller's Host header), for callback URLs."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host = sockname[0] if ":" not in sockname[0] else f"[{sockname[0]}]"
        return f"http://{host}:{sockname[1]}"
    return str(request.url.origin())


def _utter_answer(
    status: int | None, body: object, problems: list[str], callback_url: str | None
) -> web.Response:
    answer = {"status": status, "body": body, "problems": problems, "callback_url": callback_url}
    return web.json_response(answer)


def _callback_answer(status: str, message: str = "", http_status: int = 200) -> web.Response:
    body = {
        "taskId": str(uuid.uuid4()),
        "status": status,
        "message": message,
        "timestamp": int(time.time()),
    }
    return web.json_response(body, status=http_status)


async def callback(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.match_info["bot_id"] != state.bot_id:
        return _callback_answer("FAIL", "Invalid bot ID.", 400)
    entry = state.callbacks.get(request.match_info["token"])
    if entry is None or entry.used or time.monotonic() >= entry.expires:
        return _callback_answer("FAIL", INVALID_TOKEN, 400)
    try:
        body = json.loads(await request.read())
    except ValueError:
        body = None
    if validate_skill_response(body, callback_enabled=False):
        return _callback_answer("FAIL", "Invalid json response from bot-skill.", 400)
    entry.used = True
    assert isinstance(body, dict)
    state.show("callback", entry.user_key, bubble_texts(body), bubble_images(body))
    return _callback_answer("SUCCESS")


def _dealer_error(code: str, message: str, status: int = 200) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def consult_write(request: web.Request) -> web.Response:
    state = request.app[STATE]
    client_id = request.headers.get("HT-Client-Id", "")
    secret = request.headers.get("HT-Client-Secret", "")
    if not (
        state.client_id
        and state.client_secret
        and hmac.compare_digest(client_id.encode(), state.client_id.encode())
        and hmac.compare_digest(secret.encode(), state.client_secret.encode())
    ):
        return _dealer_error("401", "인증 정보가 올바르지 않습니다 (HT-Client-Id/Secret)", 401)
    if failure := take_failure(state.failures):
        return _dealer_error(failure["code"], failure["message"], failure["status"])
    try:
        body = json.loads(await request.read())
        user_key, sender_key = str(body["user_key"]), str(body["sender_key"])
        serial, message = str(body["serial_number"]), str(body.get("message") or "")
        message_type = body["message_type"]
    except (ValueError, KeyError, TypeError):
        return _dealer_error("400", "필수 항목이 없습니다", 400)
    if len(user_key) > 20 or len(serial) > 30 or message_type != "TX":
        return _dealer_error("400", "항목 길이 또는 메시지 타입이 올바르지 않습니다", 400)
    if not message or len(message) > TEXT_LIMIT:
        return _dealer_error("400", "메시지는 1~1000자여야 합니다", 400)
    if sender_key != state.sender_key:
        return _dealer_error("403", "발신프로필 키가 올바르지 않습니다")
    if user_key not in state.sessions:
        return _dealer_error("8012", "상담 세션이 없는 사용자입니다")
    if serial not in state.serials:  # the same serial number twice is one message
        state.serials.add(serial)
        state.show("consult", user_key, [message])
    return web.json_response({"code": "200", "message": ""})


def _failure(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": int(spec.get("status", 200)),
        "code": str(spec.get("code", "500")),
        "message": str(spec.get("message") or "simulated dealer error"),
        "count": int(spec.get("count", 1)),
    }


async def expire_callbacks(request: web.Request) -> web.Response:
    state = request.app[STATE]
    for entry in state.callbacks.values():
        entry.expires = 0.0
    return web.json_response({"expired": len(state.callbacks)})


def create_app(
    skill_token: str | None = None,
    *,
    webhook: str | None = None,
    bot_id: str = DEFAULT_BOT_ID,
    callback_ttl_s: float = CALLBACK_TTL_S,
    client_id: str | None = None,
    client_secret: str | None = None,
    sender_key: str | None = None,
) -> web.Application:
    app = web.Application()
    state = SimState(
        skill_token=skill_token,
        bot_id=bot_id,
        webhook=webhook,
        callback_ttl_s=callback_ttl_s,
        client_id=client_id,
        client_secret=client_secret,
        sender_key=sender_key,
    )
    app[STATE] = state
    with_client_session(app, lambda http: setattr(state, "http", http))
    app.router.add_post("/_sim/utter", utter)
    app.router.add_post("/v1/bots/{bot_id}/callback/{token}", callback)
    app.router.add_post("/v1/chat/write", consult_write)
    add_sent_route(app, lambda a: a[STATE].sent)
    add_failure_route(
        app, lambda a: a[STATE].failures, _failure, usage="expected {status?, code?, message?}"
    )
    app.router.add_post("/_sim/expire_callbacks", expire_callbacks)
    return app


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    parser = simulator_parser(
        "inbox-sim-kakao",
        "Local Kakao i Open Builder (skill calls, callback) and 상담톡 dealer API",
        DEFAULT_PORT,
    )
    parser.add_argument("--webhook", default=None, help="skill URL, e.g. .../webhooks/kakao")
    parser.add_argument("--skill-token", default=env("KAKAO_SKILL_TOKEN"))
    parser.add_argument("--bot-id", default=DEFAULT_BOT_ID)
    parser.add_argument("--callback-ttl", type=float, default=CALLBACK_TTL_S)
    parser.add_argument("--client-id", default=env("KAKAO_SENDER_CLIENT_ID"))
    parser.add_argument("--client-secret", default=env("KAKAO_SENDER_KEY"))
    parser.add_argument("--sender-key", default=env("KAKAO_SENDER_PROFILE_KEY"))
    args = parser.parse_args(argv)
    if args.callback_ttl <= 0:
        parser.error("--callback-ttl must be positive")
    app = create_app(
        args.skill_token,
        webhook=args.webhook,
        bot_id=args.bot_id,
        callback_ttl_s=args.callback_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        sender_key=args.sender_key,
    )
    serve(app, args, "Kakao simulator")


if __name__ == "__main__":
    main()
