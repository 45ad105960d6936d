"""The console script as a process: it serves HTTP and SMTP, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

from inbox_core.embedded import free_port


async def test_console_script_serves_and_stops_on_sigterm(
    core_env: dict[str, str], tmp_path: Path, poll: Any
) -> None:
    http_port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        **core_env,
        "INBOX_HOST": "127.0.0.1",
        "INBOX_MAIL_HTTP_PORT": str(http_port),
        "INBOX_SMTP_PORT": str(smtp_port),
        "INBOX_SMTP_HOSTNAME": "mx.test",
    }
    script = Path(sys.executable).parent / "inbox-ingest-mail"
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            str(script), env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    try:

        async def healthy() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(
                        f"http://127.0.0.1:{http_port}/healthz",
                        timeout=aiohttp.ClientTimeout(total=2),
                    ) as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await poll(healthy, "the service to be healthy", timeout=60)
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, timeout=10, start_tls=False)
        greeting = await smtp.connect()
        noop = await smtp.noop()
        await smtp.quit()
        assert greeting.code == 220 and greeting.message.startswith("mx.test")
        assert noop.code == 250

        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 30)
        assert returncode == 0, log_path.read_text(errors="replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)
