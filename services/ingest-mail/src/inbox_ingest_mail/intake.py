"""Mail in, from SMTP or IMAP: parse → keep the raw mail and the files → publish → report
bounces. `accept` returns only when every message got its PubAck; it raises
TransientError (the store is down) or BusUnavailable (the bus is down), and the caller
answers 451 (SMTP) or keeps its cursor (IMAP). Nothing is acknowledged that is not kept.

- The raw bytes go to GridFS once (content-addressed), whatever the parser makes of them:
  `raw_ref` on every message. Each file (attachment, inline image, attached message) is a
  blob too: `Attachment.ref`, served by the agent API at `/api/attachments/<ref>`.
- A bounce of one of our replies (the original Message-ID is ours) with a permanent status
  becomes a failed `DeliveryReport` for that reply: the notifier records it on the
  conversation's message (`message.delivery_failed`); the bounce itself joins the
  conversation silently (it references the original) and never opens one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from inbox_core import subjects
from inbox_core.blobs import put_blob
from inbox_core.connector import Connector
from inbox_core.errors import TransientError
from inbox_core.logging import get_logger
from inbox_core.schema import DeliveryReport, DeliveryStatus, InboundMessage, utcnow
from inbox_ingest_mail.parse_mail import CHANNEL, ReadMail, read_mail
from inbox_ingest_mail.thread_ids import parse_own_message_id

log = get_logger(__name__)


class MailIntake:
    def __init__(self, connector: Connector, own_domains: frozenset[str]) -> None:
        self.connector = connector
        self.own_domains = own_domains

    async def accept(
        self,
        raw: bytes,
        targets: Mapping[str, Mapping[str, Any]],
        *,
        envelope_from: str | None = None,
        received_at: datetime | None = None,
        source: str = "smtp",
    ) -> list[InboundMessage]:
        """Publish `raw` once per account in `targets` (account → extra context)."""
        messages = await self.prepare(
            raw, targets, envelope_from=envelope_from, received_at=received_at, source=source
        )
        await self.connector.publish(messages)
        await self.published(messages)
        return messages

    async def prepare(
        self,
        raw: bytes,
        targets: Mapping[str, Mapping[str, Any]],
        *,
        envelope_from: str | None = None,
        received_at: datetime | None = None,
        source: str = "smtp",
    ) -> list[InboundMessage]:
        """Parse `raw` once per account in `targets` and keep it and its files: the messages
        to publish (a poller publishes them itself, then calls `published`)."""
        received_at = received_at or utcnow()
        reads = [
            await asyncio.to_thread(
                read_mail,
                raw,
                account,
                received_at,
                envelope_from=envelope_from,
                own_domains=self.own_domains,
            )
            for account in targets
        ]
        await self._keep(raw, reads, source)
        messages = []
        for read in reads:
            read.message.context.update(targets[read.message.account])
            read.message.context["source"] = source
            messages.append(read.message)
        return messages

    async def published(self, messages: list[InboundMessage]) -> None:
        """After the PubAck: report the bounces of our own replies."""
        for message in messages:
            await self._report_bounce(message)

    async def _keep(self, raw: bytes, reads: list[ReadMail], source: str) -> None:
        db = self.connector.runtime.store.db
        try:
            raw_ref = await put_blob(
                db,
                raw,
                filename="message.eml",
                content_type="message/rfc822",
                metadata={"channel": CHANNEL, "kind": "raw", "source": source},
            )
            for read in reads:
                read.message.raw_ref = raw_ref
                for attachment, part in zip(read.message.attachments, read.files, strict=False):
                    attachment.ref = await put_blob(
                        db,
                        part.data,
                        filename=part.name,
                        content_type=part.content_type,
                        metadata={"channel": CHANNEL, "kind": "attachment"},
                    )
        except (PyMongoError, OSError) as err:
            raise TransientError(f"store unavailable, mail not kept: {err}") from err

    async def _report_bounce(self, message: InboundMessage) -> None:
        bounce = message.context.get("bounce") or {}
        ours = parse_own_message_id(bounce.get("original_message_id"), self.own_domains)
        if not message.flags.bounce or ours is None or not bounce.get("permanent"):
            return
        conversation_id, reply_id = ours
        parts = [f"bounced: {bounce.get('status') or bounce.get('action') or 'failed'}"]
        if bounce.get("recipient"):
            parts.append(f"for {bounce['recipient']}")
        if bounce.get("diagnostic"):
            parts.append(f"({bounce['diagnostic']})")
        report = DeliveryReport(
            reply_id=reply_id,
            conversation_id=conversation_id,
            channel=CHANNEL,
            account=message.account,
            status=DeliveryStatus.FAILED,
            external_id=bounce.get("original_message_id"),
            error=" ".join(parts),
        )
        await self.connector.runtime.bus.publish_model(
            subjects.delivery(CHANNEL, message.account),
            report,
            msg_id=f"delivery:{reply_id}:bounced",
        )
        log.info("bounce recorded", account=message.account, reply_id=reply_id)
