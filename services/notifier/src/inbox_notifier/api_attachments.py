"""Attachment routes of the agent API: download a stored file, upload one for a reply."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from inbox_core.attachments import MAX_UPLOAD_BYTES, MB
from inbox_notifier.attachment_files import AttachmentFiles, content_disposition, upload_name
from inbox_notifier.auth import AGENT
from inbox_notifier.desk_models import AttachmentUploadOut
from inbox_notifier.routing import ApiError, RouteTable

ATTACHMENT_FILES = web.AppKey("attachment_files", AttachmentFiles)

download_api = RouteTable()
upload_api = RouteTable()


@download_api.add(
    "GET",
    "/api/attachments/{ref}",
    errors=(404,),
    tag="attachments",
    summary="Download a stored attachment or raw message",
)
async def download_attachment(request: web.Request) -> web.Response:
    data, filename, content_type = await request.app[ATTACHMENT_FILES].download(
        request.match_info["ref"]
    )
    return web.Response(
        body=data,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@upload_api.add(
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
        name = upload_name(part.filename)
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
    ref, content_type = await request.app[ATTACHMENT_FILES].upload(
        bytes(data), name, request[AGENT]
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


def document_upload(spec: dict[str, Any]) -> None:
    spec["paths"]["/api/attachments"]["post"]["requestBody"] = UPLOAD_BODY
