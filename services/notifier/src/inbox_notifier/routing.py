"""A small typed route table over aiohttp: each route names its body, query and response
models, so requests are validated by pydantic and /openapi.json is generated from them.

Errors are JSON `{"code", "message", "errors": [{"field", "message"}]}` with stable codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from inbox_core.logging import get_logger
from inbox_notifier.models import ErrorOut

log = get_logger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors or []


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


def json_response(data: Any, status: int = 200) -> web.Response:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return web.Response(
        body=orjson.dumps(data, default=str), status=status, content_type="application/json"
    )


def error_response(
    status: int, code: str, message: str, errors: list[dict[str, str]] | None = None
) -> web.Response:
    return json_response({"code": code, "message": message, "errors": errors or []}, status)


def _validation_errors(err: ValidationError, where: str) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]}
        for e in err.errors()
    ]


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err.status, err.code, err.message, err.errors)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            err.status, "http_error"
        )
        return error_response(err.status, code, err.reason)


Handler = Callable[..., Awaitable[Any]]


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tag: str = "conversations"
    errors: tuple[int, ...] = ()


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        tag: str = "conversations",
        errors: tuple[int, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.routes.append(
                Route(method, path, handler, summary, body, query, response, status, tag, errors)
            )
            return handler

        return decorate

    def install(self, app: web.Application) -> None:
        for route in self.routes:
            app.router.add_route(route.method, route.path, _wrap(route))


def _wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if route.query is not None:
            try:
                kwargs["query"] = route.query.model_validate(dict(request.query))
            except ValidationError as err:
                raise ApiError(
                    422,
                    "validation_error",
                    "invalid query parameters",
                    _validation_errors(err, "query"),
                ) from err
        if route.body is not None:
            raw = await request.read()
            try:
                data = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError as err:
                raise ApiError(400, "invalid_json", f"body is not JSON: {err}") from err
            try:
                kwargs["body"] = route.body.model_validate(data)
            except ValidationError as err:
                raise ApiError(
                    422, "validation_error", "invalid request body", _validation_errors(err, "body")
                ) from err
        result = await route.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, route.status)

    return handler


def openapi(table: RouteTable, *, title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 generated from the route table's pydantic models."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorOut)
    paths: dict[str, Any] = {}
    for route in table.routes:
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "responses": {},
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(route.path)
        ]
        if route.query is not None:
            for field_name, info in route.query.model_fields.items():
                name = info.alias or field_name  # e.g. `from`, a Python keyword
                schema = route.query.model_json_schema()["properties"][name]
                params.append(
                    {"name": name, "in": "query", "required": info.is_required(), "schema": schema}
                )
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref(route.response)}}
        elif route.path == "/api/events":
            ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
        op["responses"][str(route.status)] = ok
        codes = {401, 429, *route.errors}  # 429: too many wrong tokens from one address
        if route.body is not None or route.query is not None:
            codes |= {400, 422}
        for code in sorted(codes):
            op["responses"][str(code)] = {
                "description": {
                    400: "bad request",
                    401: "missing or invalid token",
                    403: "forbidden: admin only",
                    404: "not found",
                    409: "conflict",
                    422: "validation error",
                    429: "too many wrong tokens from this address (Retry-After)",
                    503: "bus unavailable",
                }.get(code, "error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
