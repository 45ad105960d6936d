"""The checked-in AsyncAPI document is the bus contract for connectors in any language: it must
match the pydantic models, and a payload valid for the models must be valid for the document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from inbox_core import asyncapi
from inbox_core.schema import Customer, DeliveryReport, DeliveryStatus, InboundMessage

DOC_PATH = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return orjson.loads(DOC_PATH.read_bytes())


def _validator(document: dict[str, Any], model: str) -> Draft202012Validator:
    # The document is the root, so `#/components/schemas/...` references resolve inside it.
    return Draft202012Validator({**document, "$ref": f"#/components/schemas/{model}"})


def test_checked_in_document_matches_the_models() -> None:
    assert DOC_PATH.read_bytes() == asyncapi.render(), (
        "docs/asyncapi.json is out of date with inbox_core.schema: run `make asyncapi`"
    )


def test_document_names_every_connector_subject(document: dict[str, Any]) -> None:
    addresses = {c["address"] for c in document["channels"].values()}
    assert {
        "inbox.in.{channel}.{account}",
        "inbox.out.{channel}.{account}",
        "inbox.delivery.{channel}.{account}",
        "inbox.events.{type}",
    } <= addresses
    inbound = document["components"]["messages"]["InboundMessage"]
    assert "Nats-Msg-Id" in inbound["headers"]["required"]


def test_a_model_payload_is_valid_for_the_document(document: dict[str, Any]) -> None:
    message = InboundMessage(
        channel="line",
        account="shop1",
        external_id="m-1",
        thread_keys=["line:u-1"],
        customer=Customer(id="u-1", name="김민수"),
        text="배송 언제 되나요?",
    )
    _validator(document, "InboundMessage").validate(orjson.loads(message.to_json()))
    report = DeliveryReport(
        reply_id="r1",
        conversation_id="c1",
        channel="line",
        account="shop1",
        status=DeliveryStatus.SENT,
    )
    _validator(document, "DeliveryReport").validate(orjson.loads(report.to_json()))


def test_a_payload_without_a_thread_key_is_invalid_for_the_document(
    document: dict[str, Any],
) -> None:
    payload = {
        "channel": "line",
        "account": "shop1",
        "external_id": "m-1",
        "customer": {"id": "u-1"},
    }
    errors = list(_validator(document, "InboundMessage").iter_errors(payload))
    assert any("thread_keys" in e.message for e in errors)
