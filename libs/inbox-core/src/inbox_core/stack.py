"""`inbox-stack`: the whole inbox on one machine, in the foreground (`make up` / `make demo`).

Starts an embedded nats-server unless NATS_URL is set and the Mongo-wire store unless
MONGODB_URL is set (state under INBOX_DATA_DIR), then the five services; waits until every
/healthz is 200, prints the URLs and the admin token, and on Ctrl-C (or SIGTERM) stops the
services, then the store and NATS, within 10 s, leaving no process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from inbox_core.demo import Demo
from inbox_core.embedded import (
    ManagedProcess,
    find_binary,
    mongo_url,
    port_open,
    start_mongo,
    start_nats,
    wait_until,
)
from inbox_core.masking import mask_url_credentials

READY_MARKER = "INBOX READY"
# Services that may run as several replicas (`--replicas router=3,notifier=2`).
SCALABLE: Final = ("router", "notifier")
DEFAULT_PARTITIONS: Final = "8"
# Ctrl-C or SIGTERM stops the whole stack within 10 s (the contract); this leaves a margin.
STOP_DEADLINE_S: Final = 9.0
# Each service's own drain on SIGTERM, unless set: well inside its group's share.
SERVICE_GRACE_S: Final = "2.5"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    command: str
    port_env: str
    default_port: int


# Start order (on stop the services stop together, before the store and the bus).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("notifier", "inbox-notifier", "INBOX_API_PORT", 8080),
    ServiceSpec("router", "inbox-router", "INBOX_ROUTER_PORT", 8084),
    ServiceSpec("ingest-mail", "inbox-ingest-mail", "INBOX_MAIL_HTTP_PORT", 8082),
    ServiceSpec("ingest-social", "inbox-ingest-social", "INBOX_SOCIAL_PORT", 8081),
    ServiceSpec("ingest-marketplace", "inbox-ingest-marketplace", "INBOX_MARKET_PORT", 8083),
)


def service_port(spec: ServiceSpec, env: dict[str, str]) -> int:
    return int(env.get(spec.port_env) or spec.default_port)


def _bindable(port: int) -> bool:
    """Free to listen on (a connect test misses ports held by outgoing connections)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _healthy(port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


class Stack:
    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        *,
        quiet: bool = False,
        replicas: dict[str, int] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.env.setdefault("INBOX_SHUTDOWN_GRACE_S", SERVICE_GRACE_S)
        self.replicas = replicas or {}
        if any(n > 1 for n in self.replicas.values()):
            # Replicas share the work by partitions of the thread keys (inbox_core.partitions).
            self.env.setdefault("INBOX_PARTITIONS", DEFAULT_PARTITIONS)
        self.ports: dict[str, tuple[ServiceSpec, int]] = {}  # process name → its spec and port
        self.quiet = quiet
        self.log_dir = data_dir / "logs"
        self.run_dir = data_dir / "run"
        self.deps: list[ManagedProcess] = []
        self.services: list[ManagedProcess] = []
        self.extras: list[ManagedProcess] = []  # simulators in demo mode

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def _record(self, proc: ManagedProcess) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        assert proc.proc is not None
        (self.run_dir / f"{proc.name}.pid").write_text(str(proc.proc.pid))

    def start_dependencies(self) -> None:
        if not self.env.get("NATS_URL"):
            port = int(self.env.get("INBOX_EMBEDDED_NATS_PORT", "4222"))
            if port_open("127.0.0.1", port):
                raise SystemExit(f"port {port} is taken: stop the other NATS or set NATS_URL")
            self.say(f"starting embedded nats-server on {port} (store {self.data_dir / 'nats'})")
            conf = self.env.get("INBOX_NATS_CONFIG")
            proc = start_nats(
                self.data_dir / "nats",
                port,
                log_dir=self.log_dir,
                config=Path(conf) if conf else None,
            )
            self.deps.append(proc)
            self._record(proc)
            self.env["NATS_URL"] = f"nats://127.0.0.1:{port}"
        if not self.env.get("MONGODB_URL"):
            port = int(self.env.get("INBOX_EMBEDDED_MONGO_PORT", "27017"))
            if port_open("127.0.0.1", port):
                raise SystemExit(f"port {port} is taken: stop the other store or set MONGODB_URL")
            self.say(
                f"starting embedded Mongo-wire store on {port} (data {self.data_dir / 'store'})"
            )
            proc = start_mongo(self.data_dir / "store", port, log_dir=self.log_dir)
            self.deps.append(proc)
            self._record(proc)
            self.env["MONGODB_URL"] = mongo_url(port)

    def start_process(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        proc = ManagedProcess(
            name, command, self.log_dir / f"{name}.log", env=env or self.env
        ).start()
        self._record(proc)
        return proc

    def _plan_ports(self) -> None:
        """Each service's port; a replica takes the next port that no service uses and that
        is free (the second notifier serves the API there)."""
        taken = {service_port(spec, self.env) for spec in SERVICES}
        for spec in SERVICES:
            port = service_port(spec, self.env)
            self.ports[spec.name] = (spec, port)
            for k in range(2, self.replicas.get(spec.name, 1) + 1):
                port += 1
                while port in taken or not _bindable(port):
                    port += 1
                taken.add(port)
                self.ports[f"{spec.name}-{k}"] = (spec, port)

    def _service_env(self, name: str) -> dict[str, str]:
        spec, port = self.ports[name]
        return {**self.env, spec.port_env: str(port)}

    def start_services(self, timeout: float = 60.0) -> None:
        self._plan_ports()
        for name, (spec, port) in self.ports.items():
            if port_open("127.0.0.1", port):
                raise SystemExit(f"port {port} for {name} is taken (set {spec.port_env})")
            command = [find_binary(spec.command)]
            self.services.append(self.start_process(name, command, self._service_env(name)))
        for name in self.ports:
            self.wait_healthy(name, timeout)

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        _, port = self.ports[name]
        proc = next(p for p in self.services if p.name == name)
        wait_until(lambda: _healthy(port), timeout, name, proc)

    def restart_service(self, name: str, timeout: float = 60.0) -> ManagedProcess:
        """Start a service again (after a crash or a kill), on the same port and env."""
        spec, _ = self.ports[name]
        old = next(p for p in self.services if p.name == name)
        old.stop(timeout=5)
        new = self.start_process(name, [find_binary(spec.command)], self._service_env(name))
        self.services[self.services.index(old)] = new
        self.wait_healthy(name, timeout)
        return new

    def admin_token(self) -> str | None:
        if self.env.get("INBOX_AGENT_TOKENS"):
            return None
        path = self.data_dir / "admin-token"
        return path.read_text().strip() if path.exists() else None

    def urls(self) -> dict[str, str]:
        env = self.env
        return {
            "console": f"http://127.0.0.1:{service_port(SERVICES[0], env)}/",
            "api": f"http://127.0.0.1:{service_port(SERVICES[0], env)}",
            "events": f"http://127.0.0.1:{service_port(SERVICES[0], env)}/api/events",
            "webhooks": f"http://127.0.0.1:{service_port(SERVICES[3], env)}/webhooks/",
            "smtp": f"smtp://127.0.0.1:{env.get('INBOX_SMTP_PORT', '2525')}",
            "marketplace": f"http://127.0.0.1:{service_port(SERVICES[4], env)}",
            "router": f"http://127.0.0.1:{service_port(SERVICES[1], env)}",
            "nats": mask_url_credentials(env["NATS_URL"]),
            "mongodb": mask_url_credentials(env["MONGODB_URL"]),
            **{
                f"api ({name})": f"http://127.0.0.1:{port}"
                for name, (spec, port) in self.ports.items()
                if spec.name == "notifier" and name != spec.name
            },
        }

    def dead(self) -> ManagedProcess | None:
        for proc in [*self.deps, *self.services, *self.extras]:
            if not proc.alive:
                return proc
        return None

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        """Stop everything within `deadline_s`. The services stop together: connectors stop
        taking work (webhooks 503, SMTP 451) while the router and the notifier finish what
        they hold, and whatever is still on the bus stays there for the next start. The store
        and the bus stop last, once the services no longer need them. A process still running
        at its group's share of the deadline is killed (unacked work is redelivered)."""
        start = time.monotonic()
        groups = [([*self.extras, *self.services], 0.7), (self.deps, 1.0)]
        for procs, share in groups:
            live = [p for p in procs if p.proc is not None]
            if live:
                self.say("stopping " + ", ".join(p.name for p in live))
            for proc in live:
                proc.signal(signal.SIGTERM)
            until = start + deadline_s * share
            for proc in live:
                proc.stop(timeout=max(0.1, until - time.monotonic()))
        for pid_file in self.run_dir.glob("*.pid"):
            pid_file.unlink(missing_ok=True)


def parse_replicas(raw: str) -> dict[str, int]:
    """`router=3,notifier=2` → {"router": 3, "notifier": 2}; a clear error otherwise."""
    replicas: dict[str, int] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, _, count = part.partition("=")
        name = name.strip()
        if name not in SCALABLE:
            raise ValueError(f"--replicas: {name!r} cannot run as replicas (only {SCALABLE})")
        if not count.strip().isdigit() or not 1 <= int(count) <= 16:
            raise ValueError(f"--replicas: {part!r} needs a count from 1 to 16")
        replicas[name] = int(count)
    return replicas


def _reap_stale(run_dir: Path) -> None:
    """Kill processes a previous launcher left behind (it was killed with SIGKILL)."""
    for pid_file in run_dir.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError, OSError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="inbox-stack", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="also feed simulated traffic")
    parser.add_argument("--data-dir", default=os.environ.get("INBOX_DATA_DIR", "./var"))
    parser.add_argument(
        "--demo-rate",
        type=float,
        default=float(os.environ.get("INBOX_DEMO_RATE", "0.5")),
        help="demo messages per second",
    )
    parser.add_argument(
        "--replicas",
        default=os.environ.get("INBOX_REPLICAS", ""),
        help="replicas per service, e.g. router=3,notifier=2 (also INBOX_REPLICAS)",
    )
    args = parser.parse_args(argv)
    try:
        replicas = parse_replicas(args.replicas)
    except ValueError as err:
        parser.error(str(err))

    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["INBOX_DATA_DIR"] = str(data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    stack = Stack(data_dir, env, replicas=replicas)
    _reap_stale(stack.run_dir)

    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    demo = None
    code = 0
    try:
        stack.start_dependencies()
        if args.demo:
            demo = Demo(stack, rate=args.demo_rate)
            demo.prepare()  # simulators up and platform env set before the connectors start
        stack.say("starting services: " + ", ".join(s.name for s in SERVICES))
        stack.start_services()
        urls = stack.urls()
        token = stack.admin_token()
        stack.say("")
        stack.say("The inbox is up.")
        for key, value in urls.items():
            stack.say(f"  {key:<12} {value}")
        if token:
            stack.say(f"  admin token  {token}   (kept in {data_dir / 'admin-token'})")
            stack.say(
                f"  try: curl -H 'Authorization: Bearer {token}' {urls['api']}/api/conversations"
            )
        stack.say(f"  logs         {stack.log_dir}")
        stack.say("Press Ctrl-C to stop.")
        print(f"{READY_MARKER} {json.dumps({'urls': urls, 'token': token})}", flush=True)
        if demo is not None:
            demo.start(token, stopping)
        while not stopping.wait(0.5):
            if (gone := stack.dead()) is not None:
                stack.say(f"{gone.name} exited unexpectedly; last log lines:\n{gone.tail()}")
                code = 1
                break
    except (TimeoutError, RuntimeError, FileNotFoundError) as err:
        stack.say(f"could not start the stack: {err}")
        code = 1
    finally:
        stopping.set()
        if demo is not None:
            demo.stop()
        stack.stop()
        stack.say("stopped.")
    sys.exit(code)


if __name__ == "__main__":
    main()
