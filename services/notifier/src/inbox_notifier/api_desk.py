"""Desk routes of the agent API: bulk actions, merge, split and file uploads for replies."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from inbox_core.attachments import MAX_UPLOAD_BYTES, MB
from inbox_core.blobs import put_blob
from inbox_core.runtime import RUNTIME
from inbox_notifier.api import DESK, _action_result
from inbox_notifier.auth import AGENT, is_admin
from inbox_notifier.bulk import run_bulk
from inbox_notifier.desk_models import (
    AttachmentUploadOut,
    BulkIn,
    BulkOut,
    MergeConversationIn,
    SplitIn,
    SplitOut,
)
from inbox_notifier.filetypes import sniff_content_type
from inbox_notifier.merge import merge_conversations
from inbox_notifier.models import ActionResult
from inbox_notifier.queue import conversation_view
from inbox_notifier.routing import ApiError, RouteTable
from inbox_notifier.split import split_conversation

desk_api = RouteTable()


@desk_api.add(
    "POST",
    "/api/conversations/bulk",
    body=BulkIn,
    response=BulkOut,
    errors=(404,),
    summary="One action on up to 500 conversations; a result per conversation",
)
async def bulk(request: web.Request, body: BulkIn) -> BulkOut:
    results = await run_bulk(request.app[DESK], body, request[AGENT], admin=is_admin(request))
    return BulkOut(results=results)


@desk_api.add(
    "POST",
    "/api/conversations/{conversation_id}/merge",
    body=MergeConversationIn,
    response=ActionResult,
    errors=(404, 409, 503),
    summary="Merge another conversation into this one (its messages, notes and thread keys)",
)
async def merge(request: web.Request, body: MergeConversationIn) -> ActionResult:
    conv = await merge_conversations(
        request.app[DESK], request.match_info["conversation_id"], body.other_id, request[AGENT]
    )
    return _action_result(conv)


@desk_api.add(
    "POST",
    "/api/conversations/{conversation_id}/split",
    body=SplitIn,
    response=SplitOut,
    status=201,
    errors=(404, 409, 503),
    summary="Move messages to a new conversation, linked both ways; replies follow them",
)
async def split(request: web.Request, body: SplitIn) -> SplitOut:
    new, original = await split_conversation(
        request.app[DESK], request.match_info["conversation_id"], body.message_ids, request[AGENT]
    )
    return SplitOut.model_validate(
        {"conversation": conversation_view(new), "original": conversation_view(original)}
    )


# --- files for replies -----------------------------------------------------------------------


def _utf8_quoted(name: str) -> bool:
    try:
        unquote(name, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def _clean_name(raw: str | None) -> str:
    """A base name without control characters (the name is data, not a path or a header)."""
    name = raw or ""
    if re.search(r"%[0-9A-Fa-f]{2}", name):  # aiohttp and some clients percent-encode UTF-8
        name = unquote(name, errors="strict") if _utf8_quoted(name) else name
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]+", "", name).strip(" .")
    return name[:200] or "attachment"


@desk_api.add(
    "POST",
    "/api/attachments",
    response=AttachmentUploadOut,
    status=201,
    errors=(400, 413, 422),
    tag="attachments",
    summary="Upload a file (multipart field `file`, at most 10 MB) for a reply's attachments",
)
async def upload_attachment(request: web.Request) -> AttachmentUploadOut:
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "not_multipart", "send the file as multipart/form-data, field file")
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                break
        else:
            raise ApiError(
                422, "validation_error", "no file", [{"field": "file", "message": "required"}]
            )
        name = _clean_name(part.filename)
        data = bytearray()
        while chunk := await part.read_chunk(256 * 1024):
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "too_large", f"files are at most {MAX_UPLOAD_BYTES // MB} MB")
    except (ValueError, AssertionError, HttpProcessingError) as err:  # a malformed body
        raise ApiError(400, "bad_multipart", f"the multipart body is malformed: {err}") from err
    if not data:
        raise ApiError(
            422, "validation_error", "the file is empty", [{"field": "file", "message": "empty"}]
        )
    content_type = sniff_content_type(bytes(data), name)
    ref = await put_blob(
        request.app[RUNTIME].store.db,
        bytes(data),
        filename=name,
        content_type=content_type,
        metadata={"uploaded_by": request[AGENT], "purpose": "reply"},
    )
    return AttachmentUploadOut(ref=ref, name=name, content_type=content_type, size=len(data))


# The upload is multipart, not a JSON model: its request body, for /openapi.json.
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": f"at most {MAX_UPLOAD_BYTES // MB} MB",
                    }
                },
            }
        }
    },
}


def document_desk_routes(spec: dict[str, Any]) -> None:
    spec["paths"]["/api/attachments"]["post"]["requestBody"] = UPLOAD_BODY
