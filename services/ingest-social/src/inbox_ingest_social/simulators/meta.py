"""A local Meta: the Graph API Send endpoint, and a webhook sender that signs like Meta.

The platform side of shared/channels/meta.md, for tests and `make demo`:

- `POST /{version}/me/messages` and `POST /{version}/{page_id}/messages` (Send API, §5):
  checks `access_token` (query or `Authorization: Bearer`), answers
  `{"recipient_id", "message_id"}` or a Graph error body, and records what it accepted.
- `POST /{version}/{node}/message_attachments` (Attachment Upload API): multipart
  `message` (`{"attachment": {"type", "payload": {"is_reusable"}}}`) and `filedata`; answers
  `{"attachment_id"}`, which a Send API message may then name in `attachment.payload`.
  `GET /_sim/attachments` lists the uploads (name, type, size, sha256).
- `GET /_sim/sent`: the messages the Send API accepted, oldest first.
- `POST /_sim/deliver` `{"target", "page_id", "psid", "text", "object"?, "mid"?}`: builds a
  real Messenger webhook body, signs it with `X-Hub-Signature-256` and POSTs it to
  `target`; answers the status it got.
- `POST /_sim/fail` `{"code", "message"?, "status"?, "type"?, "count"?, "retry_after"?,
  "regain_minutes"?}`: the next `count` Send API calls fail with that Graph error (rate
  limits, unavailable users …), optionally with `Retry-After` or an
  `X-Business-Use-Case-Usage` header carrying `estimated_time_to_regain_access`.
- `GET /{version}/{user_id}?fields=...` (User Profile API): the profile seeded with
  `POST /_sim/profile {"id", "name"?, "first_name"?, "last_name"?, "username"?,
  "profile_pic"?}`, or Graph error 100 for an unknown id. `GET /_sim/lookups` lists the
  ids asked for, oldest first.

`build_message_event` and `sign` are plain functions for tests and the demo.
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
from urllib.parse import unquote

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

DEFAULT_PORT: Final = 9081
MAX_TEXT_CHARS: Final = 2000
MESSAGING_TYPES: Final = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
ATTACHMENT_TYPES: Final = frozenset({"image", "audio", "video", "file"})
MAX_ATTACHMENT_BYTES: Final = 25 * 1024 * 1024


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_message_event(
    page_id: str,
    psid: str,
    text: str,
    mid: str | None = None,
    timestamp_ms: int | None = None,
    *,
    object_type: str = "page",
) -> dict[str, Any]:
    """A webhook body with one customer text message, as Meta posts it (§2)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return {
        "object": object_type,
        "entry": [
            {
                "id": page_id,
                "time": ts,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": page_id},
                        "timestamp": ts,
                        "message": {"mid": mid or f"m_{uuid.uuid4().hex}", "text": text},
                    }
                ],
            }
        ],
    }


def encode(body: dict[str, Any]) -> bytes:
    """Meta's wire form: compact JSON with non-ASCII escaped (`\\uXXXX`), signed as is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass
class SimState:
    app_secret: str
    page_token: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None


STATE = web.AppKey("meta_sim", SimState)


def graph_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    type_: str = "OAuthException",
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": type_,
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status, headers=headers)


def _bad_param(message: str) -> web.Response:
    return graph_error(f"(#100) {message}", 100)


def _token(request: web.Request) -> str | None:
    token = request.query.get("access_token")
    if token:
        return token
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


async def send_message(request: web.Request) -> web.Response:
    state = request.app[STATE]
    token = _token(request)
    if token is None:
        return graph_error("An active access token must be used to query information.", 2500)
    if not hmac.compare_digest(token.encode(), state.page_token.encode()):
        return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
    if failure := take_failure(state.failures):
        return graph_error(
            failure["message"],
            failure["code"],
            status=failure["status"],
            type_=failure["type"],
            headers=_limit_headers(failure),
        )
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_param("The request body is not valid JSON")
    if not isinstance(body, dict):
        return _bad_param("The request body must be an object")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str):
        return _bad_param("The parameter recipient is required")
    messaging_type = body.get("messaging_type")
    if messaging_type not in MESSAGING_TYPES:
        return _bad_param("Param messaging_type must be one of " + ", ".join(MESSAGING_TYPES))
    if messaging_type == "MESSAGE_TAG" and not body.get("tag"):
        return _bad_param("Param tag is required when messaging_type is MESSAGE_TAG")
    message = body.get("message")
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        return _bad_param("param message must be non-empty.")
    if message.get("text") and message.get("attachment"):
        return _bad_param("Only one of message[text] or message[attachment] may be set")
    attachment = message.get("attachment")
    if attachment is not None:
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        attachment_id = payload.get("attachment_id") if isinstance(payload, dict) else None
        if attachment_id is not None and str(attachment_id) not in state.attachments:
            return _bad_param("(#100) Invalid attachment_id")
        if attachment.get("type") not in ATTACHMENT_TYPES | {"template"}:
            return _bad_param("param message[attachment][type] is invalid")
    text = message.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
        return _bad_param("Length of param message[text] must be less than or equal to 2000")
    message_id = f"m_{uuid.uuid4().hex}"
    state.sent.append(
        {
            "version": request.match_info["version"],
            "node": request.match_info["node"],
            "recipient_id": recipient["id"],
            "messaging_type": messaging_type,
            "tag": body.get("tag"),
            "message": message,
            "message_id": message_id,
            "at_ms": int(time.time() * 1000),
        }
    )
    return web.json_response({"recipient_id": recipient["id"], "message_id": message_id})


async def upload_attachment(request: web.Request) -> web.Response:
    """`POST /{version}/{node}/message_attachments` (Attachment Upload API): multipart with
    `message` (JSON: attachment type, `payload.is_reusable`) and the file as `filedata`."""
    state = request.app[STATE]
    token = _token(request)
    if token is None or not hmac.compare_digest(token.encode(), state.page_token.encode()):
        return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
    if not request.content_type.startswith("multipart/"):
        return _bad_param("Upload the file as multipart/form-data (filedata)")
    message: Any = None
    upload: dict[str, Any] | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        if part.name == "message":
            try:
                message = json.loads(await part.text())
            except ValueError:
                return _bad_param("param message must be JSON")
        elif part.name == "filedata":
            data = await part.read()
            upload = {
                # RFC 7578 §4.2: a client may percent-encode a non-ASCII name (aiohttp does).
                "name": unquote(part.filename or ""),
                "content_type": part.headers.get("Content-Type"),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    attachment = message.get("attachment") if isinstance(message, dict) else None
    kind = attachment.get("type") if isinstance(attachment, dict) else None
    if kind not in ATTACHMENT_TYPES:
        return _bad_param(
            "param message[attachment][type] must be one of " + ", ".join(sorted(ATTACHMENT_TYPES))
        )
    if upload is None or upload["size"] == 0:
        return _bad_param("The parameter filedata is required")
    if upload["size"] > MAX_ATTACHMENT_BYTES:
        return _bad_param("The file is larger than 25 MB")
    attachment_id = str(secrets.randbelow(10**15) + 10**15)
    state.attachments[attachment_id] = {
        **upload,
        "type": kind,
        "node": request.match_info["node"],
        "is_reusable": bool(((attachment or {}).get("payload") or {}).get("is_reusable")),
    }
    return web.json_response({"attachment_id": attachment_id})


async def attachments(request: web.Request) -> web.Response:
    return web.json_response({"attachments": request.app[STATE].attachments})


def _failure(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "code": int(spec["code"]),
        "message": str(spec.get("message") or f"(#{spec['code']}) simulated error"),
        "status": int(spec.get("status", 400)),
        "type": str(spec.get("type", "OAuthException")),
        "count": int(spec.get("count", 1)),
        "retry_after": spec.get("retry_after"),
        "regain_minutes": spec.get("regain_minutes"),
    }


def _limit_headers(failure: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if failure.get("retry_after") is not None:
        headers["Retry-After"] = str(failure["retry_after"])
    if failure.get("regain_minutes") is not None:
        usage = {
            "104857600123456": [
                {
                    "type": "messenger",
                    "call_count": 100,
                    "total_cputime": 30,
                    "total_time": 40,
                    "estimated_time_to_regain_access": failure["regain_minutes"],
                }
            ]
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
    return headers


async def user_profile(request: web.Request) -> web.Response:
    state = request.app[STATE]
    token = _token(request)
    if token is None or not hmac.compare_digest(token.encode(), state.page_token.encode()):
        return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
    user_id = request.match_info["node"]
    state.lookups.append(user_id)
    profile = state.profiles.get(user_id)
    if profile is None:
        return graph_error(
            f"Unsupported get request. Object with ID '{user_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            100,
            type_="GraphMethodException",
            subcode=33,
        )
    wanted = [f for f in request.query.get("fields", "name").split(",") if f]
    return web.json_response({"id": user_id, **{f: profile[f] for f in wanted if f in profile}})


async def seed_profile(request: web.Request) -> web.Response:
    try:
        spec = await request.json()
        user_id = str(spec["id"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {id, name?, ...}"}, status=400)
    fields = ("name", "first_name", "last_name", "username", "profile_pic")
    profile = {f: str(spec[f]) for f in fields if spec.get(f) is not None}
    request.app[STATE].profiles[user_id] = profile
    return web.json_response({"id": user_id, **profile})


async def lookups(request: web.Request) -> web.Response:
    return web.json_response({"ids": request.app[STATE].lookups})


async def deliver(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = await request.json()
        target, page_id, psid, text = (
            str(spec["target"]),
            str(spec["page_id"]),
            str(spec["psid"]),
            str(spec["text"]),
        )
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {target, page_id, psid, text}"}, status=400)
    event = build_message_event(
        page_id, psid, text, mid=spec.get("mid"), object_type=str(spec.get("object", "page"))
    )
    body = encode(event)
    assert state.http is not None
    try:
        async with state.http.post(
            target,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, state.app_secret),
            },
        ) as resp:
            status, answer = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError) as err:
        return web.json_response({"error": f"could not reach {target}: {err!r}"}, status=502)
    mid = event["entry"][0]["messaging"][0]["message"]["mid"]
    return web.json_response({"status": status, "body": answer, "mid": mid})


def create_app(app_secret: str, page_token: str) -> web.Application:
    app = web.Application()
    state = SimState(app_secret=app_secret, page_token=page_token)
    app[STATE] = state
    with_client_session(
        app, lambda http: setattr(state, "http", http), timeout=aiohttp.ClientTimeout(total=25)
    )
    app.router.add_post(r"/{version:v\d+(?:\.\d+)?}/{node}/messages", send_message)
    app.router.add_post(r"/{version:v\d+(?:\.\d+)?}/{node}/message_attachments", upload_attachment)
    app.router.add_get("/_sim/attachments", attachments)
    app.router.add_get(r"/{version:v\d+(?:\.\d+)?}/{node:[A-Za-z0-9_\-]+}", user_profile)
    app.router.add_post("/_sim/profile", seed_profile)
    app.router.add_get("/_sim/lookups", lookups)
    add_sent_route(app, lambda a: a[STATE].sent)
    app.router.add_post("/_sim/deliver", deliver)
    add_failure_route(
        app,
        lambda a: a[STATE].failures,
        _failure,
        usage="expected {code, message?, status?, count?}",
    )
    return app


def main(argv: list[str] | None = None) -> None:
    parser = simulator_parser(
        "inbox-sim-meta", "Local Meta Graph API (Send API + signed webhooks)", DEFAULT_PORT
    )
    parser.add_argument("--app-secret", default=os.environ.get("FACEBOOK_APP_SECRET"))
    parser.add_argument("--page-token", default=os.environ.get("FACEBOOK_PAGE_TOKEN"))
    args = parser.parse_args(argv)
    if not args.app_secret or not args.page_token:
        parser.error(
            "--app-secret and --page-token (or FACEBOOK_APP_SECRET and "
            "FACEBOOK_PAGE_TOKEN) are required"
        )
    serve(create_app(args.app_secret, args.page_token), args, "Meta simulator")


if __name__ == "__main__":
    main()
