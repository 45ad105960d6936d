"""`normalise` on named Messenger / Instagram payloads, with expected values beside them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inbox_core.connector import RawRequest
from inbox_core.errors import InvalidPayload
from inbox_core.schema import InboundMessage
from inbox_ingest_social.channels.facebook import Facebook, Instagram, MetaConfig

FIXTURES = Path(__file__).parents[1] / "fixtures" / "facebook"
CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))
PAGE = "104857600123456"
PSID = "6543210987654321"
CHANNELS: dict[str, type[Facebook]] = {"facebook": Facebook, "instagram": Instagram}

RawFactory = Callable[..., RawRequest]
ARRIVED = datetime(2025, 11, 20, tzinfo=UTC)


def _channel(name: str = "facebook") -> Facebook:
    return CHANNELS[name]("*", MetaConfig(app_secret="s"))


def _body(value: Any, *, ascii_only: bool = False) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def _text_event(**message: Any) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": 1763619120512,
                "messaging": [
                    {
                        "sender": {"id": PSID},
                        "recipient": {"id": PAGE},
                        "timestamp": 1763619120301,
                        "message": {"mid": "m_1", "text": "안녕하세요", **message},
                    }
                ],
            }
        ],
    }


def test_fixture_corpus_holds_every_named_case() -> None:
    assert {
        "text_message",
        "batched_two_entries",
        "attachment_image",
        "quick_reply",
        "postback",
        "echo_from_page",
        "delivery_and_read_only",
    } <= set(CASES)
    assert (FIXTURES.parent / "instagram" / "instagram_text.expected.json").exists()


def test_normalise_reads_meta_escaped_unicode_form(raw_request: RawFactory) -> None:
    body = _body(_text_event(text="니트 배송이 언제 출발하나요?"), ascii_only=True)
    assert b"\\u" in body
    [message] = _channel().normalise(raw_request(body))
    assert message.text == "니트 배송이 언제 출발하나요?"


def test_postback_without_mid_gets_a_stable_id(raw_request: RawFactory) -> None:
    def body(payload: str) -> bytes:
        event = {
            "sender": {"id": PSID},
            "recipient": {"id": PAGE},
            "timestamp": 1763623000000,
            "postback": {"title": "시작하기", "payload": payload},
        }
        return _body({"object": "page", "entry": [{"id": PAGE, "messaging": [event]}]})

    [first] = _channel().normalise(raw_request(body("GET_STARTED")))
    [again] = _channel().normalise(raw_request(body("GET_STARTED")))
    [other] = _channel().normalise(raw_request(body("MENU_SHIPPING")))
    assert first.external_id == again.external_id
    assert first.external_id != other.external_id
    assert first.text == "시작하기" and first.context["postback"] is True


def test_event_without_timestamp_takes_entry_time(raw_request: RawFactory) -> None:
    body = _text_event()
    del body["entry"][0]["messaging"][0]["timestamp"]
    [message] = _channel().normalise(raw_request(_body(body)))
    assert message.received_at.isoformat() == "2025-11-20T06:12:00.512000+00:00"


def test_deleted_message_is_not_a_new_message(raw_request: RawFactory) -> None:
    assert _channel().normalise(raw_request(_body(_text_event(is_deleted=True)))) == []


def test_entry_without_messaging_yields_nothing(raw_request: RawFactory) -> None:
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1, "standby": [{}]}]}
    assert _channel().normalise(raw_request(_body(body))) == []


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = _text_event()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()
EVENT = ("entry", 0, "messaging", 0)
INVALID = {
    "not_json": b'{"object": "page", "entry": [',
    "json_array": b"[]",
    "wrong_object": _body({"object": "instagram", "entry": []}),
    "no_object": _body({"entry": []}),
    "entry_not_list": _body({"object": "page", "entry": {}}),
    "entry_not_object": _body({"object": "page", "entry": ["x"]}),
    "page_id_with_dot": _body(_with(("entry", 0, "id"), "1.2")),
    "messaging_not_list": _body(_with(("entry", 0, "messaging"), {})),
    "missing_mid": _body(_with((*EVENT, "message", "mid"), _DELETE)),
    "text_not_string": _body(_with((*EVENT, "message", "text"), 7)),
    "missing_sender": _body(_with((*EVENT, "sender"), _DELETE)),
    "timestamp_string": _body(_with((*EVENT, "timestamp"), "어제")),
    "timestamp_out_of_range": _body(_with((*EVENT, "timestamp"), 10**18)),
    "mid_too_long": _body(_with((*EVENT, "message", "mid"), "m" * 600)),
    "not_utf8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_normalise_refuses_unreadable_payload(body: bytes, raw_request: RawFactory) -> None:
    with pytest.raises(InvalidPayload):
        _channel().normalise(raw_request(body))


def test_instagram_path_refuses_a_messenger_body(raw_request: RawFactory) -> None:
    with pytest.raises(InvalidPayload, match="instagram"):
        _channel("instagram").normalise(raw_request(_body(_text_event())))


# -- property: anything JSON-ish is either read or refused with InvalidPayload ---------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def mostly(
    valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any] = json_values
) -> st.SearchStrategy[Any]:
    """Nine times in ten a well-formed value, else junk: so the deep paths are reached too."""
    return st.sampled_from([*[valid] * 9, junk]).flatmap(lambda strategy: strategy)


meta_ids = mostly(
    st.sampled_from([PAGE, PSID, "17841400123456789"]),
    st.sampled_from(["", "a.b", "x" * 70]) | st.integers() | json_values,
)
messages = st.fixed_dictionaries(
    {"mid": mostly(st.text(min_size=1, max_size=20))},
    optional={
        "text": mostly(st.text(max_size=20)),
        "is_echo": mostly(st.booleans()),
        "metadata": mostly(st.sampled_from(["inbox:1", "x"])),
        "quick_reply": mostly(st.fixed_dictionaries({"payload": mostly(st.text(max_size=8))})),
        "attachments": mostly(
            st.lists(
                st.fixed_dictionaries(
                    {"type": mostly(st.sampled_from(["image", "file", "video"]))},
                    optional={"payload": st.fixed_dictionaries({"url": mostly(st.text())})},
                ),
                max_size=2,
            )
        ),
    },
)
postbacks = st.fixed_dictionaries(
    {},
    optional={
        "title": mostly(st.text(max_size=8)),
        "payload": mostly(st.text(max_size=8)),
        "mid": mostly(st.text(min_size=1, max_size=8)),
    },
)
envelope = {
    "sender": mostly(st.fixed_dictionaries({"id": meta_ids})),
    "recipient": mostly(st.fixed_dictionaries({"id": meta_ids})),
    "timestamp": mostly(
        st.integers(min_value=0, max_value=4 * 10**12), st.integers() | json_values
    ),
}
events = mostly(
    st.fixed_dictionaries({**envelope, "message": mostly(messages)}),
    st.fixed_dictionaries({**envelope, "postback": mostly(postbacks)})
    | st.fixed_dictionaries({**envelope, "read": json_values})
    | json_values,
)
webhook_bodies = st.fixed_dictionaries(
    {
        "object": mostly(st.just("page"), st.just("instagram") | json_values),
        "entry": mostly(
            st.lists(
                st.fixed_dictionaries(
                    {"id": meta_ids},
                    optional={
                        "time": mostly(st.integers(min_value=0, max_value=4 * 10**12)),
                        "messaging": mostly(st.lists(events, max_size=3)),
                    },
                ),
                min_size=1,
                max_size=3,
            )
        ),
    }
)


@given(value=json_values | webhook_bodies)
@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_normalise_returns_messages_or_raises_invalid_payload(value: Any) -> None:
    request = RawRequest("POST", "/", {}, {}, json.dumps(value).encode(), ARRIVED)
    try:
        result = _channel().normalise(request)
    except InvalidPayload:
        event("refused")
        return
    event(f"read {min(len(result), 2)} messages")
    assert all(isinstance(m, InboundMessage) for m in result)
    assert all(m.received_at.tzinfo is not None and m.channel == "facebook" for m in result)


@given(body=st.binary(max_size=64))
@settings(deadline=None)
def test_normalise_on_random_bytes_raises_only_invalid_payload(body: bytes) -> None:
    request = RawRequest("POST", "/", {}, {}, body, ARRIVED)
    try:
        _channel().normalise(request)
    except InvalidPayload:
        pass
