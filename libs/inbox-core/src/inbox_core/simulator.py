"""What every platform simulator shares. A simulator is an aiohttp app with the platform's
real paths, signatures and error bodies (tests and `make demo` run them); around that it
needs the same few things, kept here once:

- a queue of injected failures (`POST /_sim/fail`, the platform's own error shape; the
  next send calls answer with them, each `count` times): `add_failure_route`,
  `take_failure`;
- `GET /_sim/sent` (what the platform showed its users): `add_sent_route`;
- an HTTP client for the webhooks it calls, opened and closed with the app:
  `with_client_session`;
- the command line: `simulator_parser` (`--host`, `--port`) and `serve`.

Never expose a simulator: the `/_sim/` routes take no credentials.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TextIO

import aiohttp
from aiohttp import web

Failure = dict[str, Any]


def take_failure(failures: list[Failure]) -> Failure | None:
    """The failure the next call answers with (its `count` goes down), or None."""
    if not failures:
        return None
    failure = failures[0]
    failure["count"] -= 1
    if failure["count"] <= 0:
        failures.pop(0)
    return failure


def add_failure_route(
    app: web.Application,
    failures: Callable[[web.Application], list[Failure]],
    parse: Callable[[Mapping[str, Any]], Failure],
    *,
    usage: str,
) -> None:
    """`POST /_sim/fail`: `parse` turns the JSON body into a failure (with its `count`)
    or raises KeyError/TypeError/ValueError, answered 400 with `usage`."""

    async def fail(request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, Mapping):
                raise TypeError("a JSON object is required")
            failure = parse(spec)
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": usage}, status=400)
        failures(request.app).append(failure)
        return web.json_response({"queued": failure})

    app.router.add_post("/_sim/fail", fail)


def add_sent_route(app: web.Application, sent: Callable[[web.Application], list[Any]]) -> None:
    """`GET /_sim/sent`: `{"messages": [...]}`, what the platform showed its users."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"messages": sent(request.app)})

    app.router.add_get("/_sim/sent", handler)


def with_client_session(
    app: web.Application,
    attach: Callable[[aiohttp.ClientSession], None],
    *,
    timeout: aiohttp.ClientTimeout | None = None,
) -> None:
    """An HTTP client (for the webhooks the simulator calls) that lives as long as the app;
    `attach` gets it at start."""

    async def session(_: web.Application) -> AsyncIterator[None]:
        http = aiohttp.ClientSession(timeout=timeout) if timeout else aiohttp.ClientSession()
        attach(http)
        try:
            yield
        finally:
            await http.close()

    app.cleanup_ctx.append(session)


def simulator_parser(prog: str, description: str, port: int) -> argparse.ArgumentParser:
    """The command line every simulator starts with: `--host` and `--port`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    return parser


def serve(
    app: web.Application,
    args: argparse.Namespace,
    title: str,
    *,
    suffix: str = "",  # printed right after the URL (a path, a note)
    out: TextIO | None = None,
    access_log: bool = True,
) -> None:
    """Say where the simulator listens, then serve until Ctrl-C."""
    print(f"{title} on http://{args.host}:{args.port}{suffix}", file=out or sys.stdout, flush=True)
    extra: dict[str, Any] = {} if access_log else {"access_log": None}
    web.run_app(app, host=args.host, port=args.port, print=None, **extra)
