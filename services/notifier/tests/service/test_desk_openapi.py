"""The desk routes are in /openapi.json with their models (what API clients generate from)."""

from __future__ import annotations

from typing import Any

NotifierHarness = Any  # the `notifier` fixture (conftest.py)


async def test_desk_routes_are_documented_with_their_models(notifier: NotifierHarness) -> None:
    async with notifier.http.get(f"{notifier.url}/openapi.json") as resp:
        spec = await resp.json()
    paths = spec["paths"]

    def body_schema(path: str, content: str = "application/json") -> Any:
        return paths[path]["post"]["requestBody"]["content"][content]["schema"]

    def ok_schema(path: str, status: str = "200") -> Any:
        return paths[path]["post"]["responses"][status]["content"]["application/json"]["schema"]

    assert body_schema("/api/conversations/bulk")["$ref"].endswith("/BulkIn")
    assert ok_schema("/api/conversations/bulk")["$ref"].endswith("/BulkOut")
    assert body_schema("/api/conversations/{conversation_id}/merge")["$ref"].endswith(
        "/MergeConversationIn"
    )
    assert ok_schema("/api/conversations/{conversation_id}/split", "201")["$ref"].endswith(
        "/SplitOut"
    )
    upload = body_schema("/api/attachments", "multipart/form-data")
    assert upload["required"] == ["file"] and upload["properties"]["file"]["format"] == "binary"
    assert ok_schema("/api/attachments", "201")["$ref"].endswith("/AttachmentUploadOut")
    schemas = spec["components"]["schemas"]
    assert "until" in schemas["StatusIn"]["properties"]
    assert {"attachments", "channel"} <= set(schemas["ReplyIn"]["properties"])
    bulk = schemas["BulkIn"]["properties"]
    assert bulk["ids"]["maxItems"] == 500
    assert set(bulk["action"]["enum"]) == {"resolve", "assign", "team", "tag", "reply"}
