"""The whole stack as processes, controllable piece by piece, for fault and e2e tests:
kill -9 one service and start it again, restart nats-server, take the store away."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from inbox_core.embedded import free_port, start_mongo, start_nats
from inbox_core.stack import Stack

APP_SECRET = "fault-secret"
TOKEN = "fault-token"
PAGE = "100000000000009"


def stack_environment(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an `inbox-stack` in `data_dir` on ephemeral ports: this process's
    environment without its own INBOX_/NATS_/MONGODB_ settings, then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOX_", "NATS_", "MONGODB_"))}
    env.update(
        {
            "INBOX_DATA_DIR": str(data_dir / "var"),
            "INBOX_EMBEDDED_NATS_PORT": str(free_port()),
            "INBOX_EMBEDDED_MONGO_PORT": str(free_port()),
            "INBOX_API_PORT": str(free_port()),
            "INBOX_SOCIAL_PORT": str(free_port()),
            "INBOX_MAIL_HTTP_PORT": str(free_port()),
            "INBOX_SMTP_PORT": str(free_port()),
            "INBOX_MARKET_PORT": str(free_port()),
            "INBOX_ROUTER_PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    return env


class StackHarness:
    def __init__(
        self,
        root: Path,
        env: dict[str, str] | None = None,
        replicas: dict[str, int] | None = None,
    ) -> None:
        self.root = root
        base = stack_environment(
            root,
            {
                "INBOX_AGENT_TOKENS": f"fault:{TOKEN}:admin",
                # Webhooks are closed without their secrets: open every one, for local callers.
                "FACEBOOK_APP_SECRET": APP_SECRET,
                "KAKAO_SKILL_TOKEN": "test-skill-token",
                "NAVER_TALKTALK_ALLOWED_IPS": "127.0.0.1/32",
                "INBOX_LOG_LEVEL": "WARNING",
                "INBOX_NAK_DELAY_S": "0.2",
                "INBOX_NAK_MAX_DELAY_S": "2",
                "INBOX_ACK_WAIT_S": "5",
                "INBOX_MAX_DELIVER": "3",
                **(env or {}),
            },
        )
        # The embedded servers' ports, for restarting them where they were.
        self.nats_port = int(base["INBOX_EMBEDDED_NATS_PORT"])
        self.mongo_port = int(base["INBOX_EMBEDDED_MONGO_PORT"])
        self.stack = Stack(root / "var", base, quiet=True, replicas=replicas)

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['INBOX_API_PORT']}"

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.env['INBOX_SOCIAL_PORT']}/webhooks/facebook"

    def start(self) -> None:
        self.stack.start_dependencies()
        self.stack.start_services()

    def close(self) -> None:
        self.stack.stop()

    def kill(self, name: str) -> None:
        next(p for p in self.stack.services if p.name == name).kill()

    def restart(self, name: str) -> None:
        self.stack.restart_service(name)

    def restart_nats(self, down_s: float = 0.0) -> None:
        nats = next(p for p in self.stack.deps if p.name == "nats")
        nats.stop()
        time.sleep(down_s)
        self.stack.deps[self.stack.deps.index(nats)] = start_nats(
            self.stack.data_dir / "nats", self.nats_port, log_dir=self.stack.log_dir
        )

    def stop_store(self) -> None:
        next(p for p in self.stack.deps if p.name == "store").stop()

    def start_store(self) -> None:
        store = next(p for p in self.stack.deps if p.name == "store")
        self.stack.deps[self.stack.deps.index(store)] = start_mongo(
            self.stack.data_dir / "store", self.mongo_port, log_dir=self.stack.log_dir
        )

    # --- traffic and counting -------------------------------------------------------------

    @staticmethod
    def webhook_body(tag: str, psid: str | None = None) -> bytes:
        now = int(time.time() * 1000)
        return json.dumps(
            {
                "object": "page",
                "entry": [
                    {
                        "id": PAGE,
                        "time": now,
                        "messaging": [
                            {
                                "sender": {"id": psid or f"psid-{tag}"},
                                "recipient": {"id": PAGE},
                                "timestamp": now,
                                "message": {"mid": f"m_{tag}", "text": f"배송 문의 {tag}"},
                            }
                        ],
                    }
                ],
            }
        ).encode()

    @staticmethod
    def sign(body: bytes) -> str:
        """`X-Hub-Signature-256` of a webhook body, as Meta computes it."""
        return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()

    async def deliver(
        self, http: aiohttp.ClientSession, body: bytes, *, give_up_s: float = 120.0
    ) -> int:
        """POST a signed webhook until it is accepted, as Meta retries; returns the tries."""
        sig = self.sign(body)
        deadline = time.monotonic() + give_up_s
        tries = 0
        while True:
            tries += 1
            try:
                async with http.post(
                    self.webhook,
                    data=body,
                    headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    if resp.status == 200:
                        return tries
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("webhook never accepted")
            await asyncio.sleep(0.2)

    def _db(self) -> Any:
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true",
            serverSelectionTimeoutMS=3000,
        )
        return client

    def stored_message_ids(self) -> list[str]:
        return self.stored_external_ids()

    async def wait_stored(self, expected: Iterable[str], timeout: float = 90) -> list[str]:
        """Wait until every expected external id is stored; return all stored ids."""
        want = set(expected)
        deadline = time.monotonic() + timeout
        while True:
            try:
                ids = await asyncio.to_thread(self.stored_message_ids)
            except PyMongoError:  # the store may be restarting
                ids = []
            if want <= set(ids) or time.monotonic() > deadline:
                return ids
            await asyncio.sleep(0.5)

    # --- the store as an operator sees it (poison and marketplace fault tests) -------------

    def stored_external_ids(self, channel: str | None = None) -> list[str]:
        """External ids of the stored customer messages, of one channel or all, repeats kept."""
        query: dict[str, Any] = {"kind": "message", "direction": "in"}
        if channel is not None:
            query["channel"] = channel
        with self._db() as client:
            return [
                d["external_id"]
                for d in client["inbox"]["messages"].find(query, {"external_id": 1})
            ]

    def find_documents(self, collection: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Documents of a store collection (datetimes come back naive, in UTC)."""
        with self._db() as client:
            return list(client["inbox"][collection].find(query))

    def edit_documents(self, collection: str, query: dict[str, Any], update: dict[str, Any]) -> int:
        """A hand edit in the store, as an operator's script makes one; returns the matches."""
        with self._db() as client:
            return int(client["inbox"][collection].update_many(query, update).matched_count)


@asynccontextmanager
async def running_stack(
    env: dict[str, str] | None = None, replicas: dict[str, int] | None = None
) -> AsyncIterator[StackHarness]:
    """A whole stack in a temp dir (`replicas` as `inbox-stack --replicas`), stopped and
    removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="inbox-faults-"))
    harness = StackHarness(root, env, replicas)
    try:
        await asyncio.to_thread(harness.start)
        yield harness
    finally:
        await asyncio.to_thread(harness.close)
        shutil.rmtree(root, ignore_errors=True)


def assert_exactly_once(stored: list[str], expected: list[str]) -> None:
    """Every expected id stored, none twice, nothing else."""
    counts = Counter(stored)
    missing = sorted(set(expected) - set(counts))
    twice = sorted(k for k, c in counts.items() if c > 1)
    assert not missing, f"lost {len(missing)}: {missing[:5]}"
    assert not twice, f"duplicated {len(twice)}: {twice[:5]}"
    assert len(stored) == len(expected)
