"""The whole stack as processes (`inbox-stack`), on ephemeral ports and a temp data dir;
the SMTP sink a module's stack relays customer mail to (tests/e2e/helpers.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from inbox_core.embedded import ManagedProcess, find_binary, free_port, port_open, wait_until
from inbox_core.stack import READY_MARKER
from inbox_core.testing.stack import stack_environment

from .helpers import SmtpSink, smtp_sink_server

TOKEN = "e2e-agent-token"  # the tests send it as AUTH
APP_SECRET = "e2e-app-secret"


@dataclass
class RunningStack:
    data_dir: Path
    env: dict[str, str]
    naver_sim_url: str
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.data_dir / "stack.out"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['INBOX_API_PORT']}"

    @property
    def social(self) -> str:
        return f"http://127.0.0.1:{self.env['INBOX_SOCIAL_PORT']}"

    @property
    def smtp_port(self) -> int:
        return int(self.env["INBOX_SMTP_PORT"])

    def start(self, timeout: float = 150) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0  # skip earlier runs
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [find_binary("inbox-stack")],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, "rb") as fh:
                fh.seek(offset)
                lines = fh.read().decode(errors="replace").splitlines()
            for line in lines:
                if line.startswith(READY_MARKER):
                    self.info = json.loads(line[len(READY_MARKER) :])
            if self.info:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("stack did not start:\n" + self.tail())

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        logs = self.data_dir / "logs"
        for f in sorted(logs.glob("*.log")) if logs.exists() else []:
            text += [f"--- {f.name}", *f.read_text(errors="replace").splitlines()[-15:]]
        return "\n".join(text)

    def stop(self) -> int | None:
        """Ctrl-C, as a user would; returns the launcher's exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        code = self.proc.returncode
        self.info = {}
        self.proc = None
        return code

    def kill_leftovers(self) -> list[int]:
        """Kills the process groups of services still running; their pids."""
        leftovers = self.leftover_pids()
        for pid in leftovers:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers

    def leftover_pids(self) -> list[int]:
        alive = []
        for pid_file in (self.data_dir / "run").glob("*.pid"):
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        return alive


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[SmtpSink, int]]:
    """An SMTP sink for the module; a module relays to it with
    `SMTP_RELAY_URL=smtp://127.0.0.1:<port>` in its `stack_env`."""
    with smtp_sink_server() as sink_and_port:
        yield sink_and_port


@pytest.fixture(scope="module")
def naver_simulator() -> Iterator[tuple[str, str, str]]:
    """The SmartStore simulator as its own process: (base URL, client id, client secret)."""
    tmp = Path(tempfile.mkdtemp(prefix="inbox-e2e-sim-"))
    port = free_port()
    client_id, secret = "e2e-client", bcrypt.gensalt(4).decode()
    proc = ManagedProcess(
        "sim",
        [
            find_binary("inbox-sim-naver-commerce"),
            "--port",
            str(port),
            "--client-id",
            client_id,
            "--client-secret",
            secret,
        ],
        tmp / "sim.log",
    ).start()
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, "naver simulator", proc)
        yield f"http://127.0.0.1:{port}", client_id, secret
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Extra environment for the module's stack; a test module overrides this fixture to
    add what it needs (e.g. the console tests' SMTP sink and a second agent)."""
    return {}


@pytest.fixture(scope="module")
def stack(
    naver_simulator: tuple[str, str, str], stack_env: dict[str, str]
) -> Iterator[RunningStack]:
    sim_url, client_id, secret = naver_simulator
    data_dir = Path(tempfile.mkdtemp(prefix="inbox-e2e-"))
    env = stack_environment(
        data_dir,
        {
            "INBOX_AGENT_TOKENS": f"e2e:{TOKEN}:admin",
            "INBOX_MAIL_DOMAINS": "shop.example",
            # Webhooks are closed without their secrets: open every one, for local callers.
            "FACEBOOK_APP_SECRET": APP_SECRET,
            "KAKAO_SKILL_TOKEN": "e2e-skill-token",
            "NAVER_TALKTALK_ALLOWED_IPS": "127.0.0.1/32",
            "FACEBOOK_VERIFY_TOKEN": "e2e-verify",
            "NAVER_COMMERCE_URL": f"{sim_url}/external",
            "NAVER_COMMERCE_CLIENT_ID": client_id,
            "NAVER_COMMERCE_CLIENT_SECRET": secret,
            "NAVER_COMMERCE_ACCOUNT": "e2eshop",
            "INBOX_MARKET_POLL_S": "0.5",
            **stack_env,
        },
    )
    running = RunningStack(data_dir, env, sim_url)
    running.start()
    try:
        yield running
    finally:
        code = running.stop()
        leftovers = running.kill_leftovers()
        keep = os.environ.get("INBOX_KEEP_E2E_LOGS")
        if keep:
            shutil.copytree(data_dir, Path(keep) / data_dir.name, dirs_exist_ok=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        assert code == 0, "inbox-stack did not stop cleanly"
        assert leftovers == [], f"processes left behind: {leftovers}"
