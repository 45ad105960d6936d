"""Small readers shared by the channel modules: a wrong shape becomes `InvalidPayload`.

Every platform here pushes JSON we must read strictly (Kakao and TalkTalk sign nothing, so
the schema is part of the defence). These helpers name the path of what was wrong
(`userRequest.user.id must be a non-empty string`) so the 400 answer and the kept raw
payload say why.
"""

from __future__ import annotations

import hashlib
import mimetypes
import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from pydantic import ValidationError

from inbox_core.errors import InvalidPayload
from inbox_core.schema import Attachment, InboundMessage


def load_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidPayload(f"body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPayload("body is not a JSON object")
    return data


def json_object(raw: bytes) -> dict[str, Any] | None:
    """A platform's answer as a JSON object, or None when it is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(f"{where} must be an object")
    return value


def opt_obj(value: object, where: str) -> dict[str, Any]:
    """An optional object: absent or null reads as {}."""
    return {} if value is None else obj(value, where)


def req_str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"{where} must be a non-empty string")
    return value


def opt_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{where} must be a string")
    return value


def opt_bool(value: object, where: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidPayload(f"{where} must be true or false")
    return value


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic external id for platforms that give none (Kakao, TalkTalk)."""
    joined = "\x1f".join(str(p) for p in parts)
    return f"{prefix}:{hashlib.sha256(joined.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


def build_message(where: str, **fields: Any) -> InboundMessage:
    """`InboundMessage(**fields)`, with a schema violation reported as InvalidPayload."""
    try:
        return InboundMessage(**fields)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidPayload(f"{where}: {loc}: {first['msg']}") from err


def url_attachment(url: str | None, fallback_name: str, family: str | None) -> Attachment:
    """An attachment the platform hosts: the URL is its `ref`; the type guessed from the name."""
    name = file_name(url) or fallback_name
    guessed = mimetypes.guess_type(name)[0] if "." in name else None
    content_type = guessed or family or "application/octet-stream"
    return Attachment(name=name, content_type=content_type, ref=url, url=url)


def file_name(url: str | None) -> str | None:
    """The last path segment of a URL, unquoted (at most 200 characters)."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = posixpath.basename(unquote(path))
    return name[:200] or None
