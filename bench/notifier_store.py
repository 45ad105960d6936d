"""The notifier's own store work per new conversation, alone: its embedded store, no bus.

    python bench/notifier_store.py [n] [batch] [stored_first]

Applies `n` new conversations (a Messenger message after hours: the conversation, the
message, an automatic reply) and then each reply's delivery report, `batch` at a time as the
consumer does (a batch's messages concurrently, their store calls gathered; their outbox
documents marked after each step), after `stored_first` conversations, and prints the store
process's CPU per conversation (from /proc). Router work is not included: it measures the
notifier's collections (conversations, messages, outbox, report_counters, counters).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from store_bound import new_customer_message  # bench/ is on sys.path

from inbox_core.embedded import free_port, mongo_url, start_mongo
from inbox_core.schema import (
    DeliveryReport,
    DeliveryStatus,
    Priority,
    RoutedMessage,
    RoutingDecision,
    SlaState,
    utcnow,
)
from inbox_core.settings import CoreSettings
from inbox_core.store import Store
from inbox_notifier.queue import INDEXES, Queue

PAGE = "100000000000009"
AUTO_REPLY = (
    "안녕하세요, 지금은 상담 시간이 아닙니다. "
    "문의 #{{conversation.number}} 확인 후 답변드리겠습니다."
)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def routed(tag: str) -> RoutedMessage:
    now = utcnow()
    message = new_customer_message(tag)
    sla = SlaState(first_response_minutes=60, first_response_due=now + timedelta(hours=1))
    decision = RoutingDecision(
        team="shipping",
        category="shipping",
        priority=Priority.NORMAL,
        tags=["배송"],
        reasons=["rule shipping: 배송"],
        sla=sla,
        auto_reply=AUTO_REPLY,
    )
    return RoutedMessage(
        message=message,
        conversation_id=uuid.uuid4().hex,
        conversation_created=True,
        customer_id=uuid.uuid4().hex,
        decision=decision,
    )


async def notifier_store(n: int = 600, batch: int = 50, stored_first: int = 3000) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-notifier-"))
    port = free_port()
    proc = start_mongo(tmp / "db", port, log_dir=tmp)
    store = Store(CoreSettings(mongodb_url=mongo_url(port), mongodb_db="bench_notifier"))
    try:
        await store.wait_ready()
        await store.ensure_indexes(INDEXES)
        queue = Queue(store)

        async def step(tag: str) -> None:
            applied = await asyncio.gather(
                *(queue.apply_routed(routed(f"{tag}-{i}")) for i in range(batch))
            )
            await queue.record_published([events for events, _ in applied])
            reports = [
                DeliveryReport(
                    reply_id=reply.id,
                    conversation_id=reply.conversation_id,
                    channel="facebook",
                    account=PAGE,
                    status=DeliveryStatus.SENT,
                )
                for _, replies in applied
                for reply in replies
            ]
            delivered = await asyncio.gather(*(queue.apply_delivery(r) for r in reports))
            await queue.record_published(list(delivered))

        for k in range(stored_first // batch):
            await step(f"first{k}")
        pid = proc.proc.pid
        before, start = cpu_s(pid), time.perf_counter()
        for k in range(n // batch):
            await step(f"run{k}")
        cpu_ms = 1000 * (cpu_s(pid) - before) / n
        wall_ms = 1000 * (time.perf_counter() - start) / n
        print(f"store CPU {cpu_ms:.2f} ms per new conversation (wall {wall_ms:.2f} ms)")
        return cpu_ms
    finally:
        await store.close()
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(notifier_store(*(int(a) for a in sys.argv[1:])))
