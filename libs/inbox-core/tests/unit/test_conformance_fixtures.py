"""The conformance suite's own rules: how pairs are found, what a bad pair says, how an
expected message is compared (inbox_core.testing.conformance)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox_core.schema import Customer, InboundMessage
from inbox_core.testing.conformance import (
    ChannelSpec,
    Exempt,
    Fixture,
    _known_gap,
    load_fixtures,
    message_mismatches,
    webhook_request,
)

MESSAGE = InboundMessage(
    channel="line",
    account="shop",
    external_id="m-1",
    thread_keys=["line:shop:U1"],
    customer=Customer(id="U1"),
    text="배송 언제 되나요?",
    received_at=datetime(2025, 11, 20, 6, 30, tzinfo=UTC),
)


def _pair(folder: Path, case: str, raw: bytes, expected: object, ext: str = ".json") -> None:
    (folder / f"{case}{ext}").write_bytes(raw)
    (folder / f"{case}.expected.json").write_text(json.dumps(expected), encoding="utf-8")


def test_pairs_are_read_in_case_order_with_raw_bytes_untouched(tmp_path: Path) -> None:
    _pair(tmp_path, "b_mail", b"Subject: \xbe\xc8\xb3\xe7\r\n\r\nhi", {"description": "b"}, ".eml")
    _pair(tmp_path, "a_event", b'{"id": 1}', {"description": "a", "messages": []})
    (tmp_path / "responses").mkdir()  # recorded API answers live apart and are not cases
    (tmp_path / "responses" / "page.json").write_text("{}")

    fixtures = load_fixtures(tmp_path)

    assert [f.case for f in fixtures] == ["a_event", "b_mail"]
    assert fixtures[1].raw == b"Subject: \xbe\xc8\xb3\xe7\r\n\r\nhi"
    assert fixtures[0].messages == [] and not fixtures[0].refused


REFUSED_WITH_MESSAGES = b'{"description": "x", "refused": true, "messages": [{"text": "a"}]}'
BAD = {
    "raw_without_expected": ({"x.json": b"{}"}, "without their pair: ['x']"),
    "expected_without_raw": ({"x.expected.json": b'{"description": "x"}'}, "without their"),
    "no_description": ({"x.json": b"{}", "x.expected.json": b"{}"}, "'description'"),
    "refused_with_messages": (
        {"x.json": b"{}", "x.expected.json": REFUSED_WITH_MESSAGES},
        "exclude each other",
    ),
    "two_raws_for_one_case": (
        {"x.json": b"{}", "x.xml": b"<a/>", "x.expected.json": b'{"description": "x"}'},
        "two raw files",
    ),
}


@pytest.mark.parametrize(("files", "error"), BAD.values(), ids=BAD.keys())
def test_a_bad_corpus_is_refused_with_the_reason(
    files: dict[str, bytes], error: str, tmp_path: Path
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load_fixtures(tmp_path)


def test_missing_folder_is_an_error_not_an_empty_suite(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_fixtures(tmp_path / "nowhere")


def test_listed_fields_must_match_and_unlisted_ones_are_free() -> None:
    pinned = {
        "external_id": "m-1",
        "thread_keys": ["line:shop:U1"],
        "received_at": "2025-11-20T15:30:00+09:00",  # the same instant in Seoul
        "customer": {"id": "U1", "name": None, "email": None, "phone": None},
    }
    assert message_mismatches(MESSAGE, pinned) == []


@pytest.mark.parametrize(
    ("pinned", "problem"),
    [
        ({"text": "다른 문장"}, "text: got '배송 언제 되나요?'"),
        ({"received_at": "2025-11-20T06:31:00Z"}, "received_at"),
        ({"context": {"extra": 1}}, "context: got {}"),
        ({"id": "abc"}, "random by design"),
        ({"colour": "red"}, "not a field of InboundMessage"),
    ],
    ids=["text_differs", "other_instant", "context_differs", "id_pinned", "unknown_field"],
)
def test_mismatches_name_the_field(pinned: dict[str, object], problem: str) -> None:
    [found] = message_mismatches(MESSAGE, pinned)
    assert problem in found


def test_webhook_request_carries_the_fixture_s_arrival() -> None:
    fixture = Fixture(
        "x",
        b'{"a": 1}',
        {
            "description": "x",
            "request": {
                "headers": {"X-Sig": "abc"},
                "query": {"hub.mode": "subscribe"},
                "received_at": "2025-11-20T06:30:00+00:00",
                "path": "/webhooks/line",
            },
        },
    )
    request = webhook_request(fixture, headers={"X-Extra": "1"})
    assert request.body == b'{"a": 1}' and request.path == "/webhooks/line"
    assert request.headers["x-sig"] == "abc" and request.headers["X-Extra"] == "1"
    assert request.query["hub.mode"] == "subscribe"
    assert request.received_at == datetime(2025, 11, 20, 6, 30, tzinfo=UTC)


def test_exempt_keeps_its_reason() -> None:
    assert Exempt("TalkTalk signs nothing").reason == "TalkTalk signs nothing"


def _spec_with_gap(tmp_path: Path) -> ChannelSpec:
    return ChannelSpec(
        name="line",
        fixtures=tmp_path,
        normalise=lambda fixture: [],
        verify=Exempt("x"),
        send=Exempt("x"),
        poll=Exempt("x"),
        known_gaps={"send:refused": "LINE answers 400 as transient"},
    )


def test_a_known_gap_that_still_fails_is_reported_as_xfail(tmp_path: Path) -> None:
    with pytest.raises(pytest.xfail.Exception, match="LINE answers 400 as transient"):
        with _known_gap(_spec_with_gap(tmp_path), "send:refused"):
            raise AssertionError("still TransientError")


def test_a_known_gap_that_passes_asks_to_be_removed(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="remove it from known_gaps"):
        with _known_gap(_spec_with_gap(tmp_path), "send:refused"):
            pass


def test_a_check_without_a_gap_fails_as_usual(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        with _known_gap(_spec_with_gap(tmp_path), "send:rate_limited"):
            raise AssertionError("a real failure")
