"""Properties: 11st decoding never raises on arbitrary bytes, CP949 text survives any
declared label, text hashes and answer limits are stable, signatures are deterministic."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from inbox_core.errors import PermanentError
from inbox_ingest_marketplace.channels.board import AnswerLimits, text_hash
from inbox_ingest_marketplace.channels.coupang_signing import signature
from inbox_ingest_marketplace.channels.elevenst_xml import decode_xml
from inbox_ingest_marketplace.simulators.coupang import expected_signature

HANGUL = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), max_size=40)
LABELS = st.sampled_from(
    [None, "text/xml", "text/xml;charset=EUC-KR", "application/xml;charset=UTF-8"]
)


@given(st.binary(max_size=300), LABELS)
@example(b"\xff\xfe\x00<", "text/xml;charset=EUC-KR")
def test_decoding_never_raises(raw: bytes, content_type: str | None) -> None:
    assert isinstance(decode_xml(raw, content_type), str)


@given(HANGUL, LABELS)
@example("똠양꿍", "application/xml;charset=UTF-8")
@example("혖", "application/xml;charset=UTF-8")  # CP949 bytes that are also valid UTF-8
def test_cp949_bytes_come_back_whatever_the_label(text: str, content_type: str | None) -> None:
    raw = f'<?xml version="1.0" encoding="euc-kr"?><x>{text}</x>'.encode("cp949")

    assert text in decode_xml(raw, content_type)


@given(st.text(max_size=80))
@example("감사합니다\r\n  네 확인했습니다")
def test_text_hash_ignores_spacing_and_is_stable(text: str) -> None:
    spaced = "  " + text.replace(" ", "\n ") + "\t"

    assert text_hash(text) == text_hash(spaced)


@given(st.text(max_size=60))
def test_answer_limits_are_idempotent(text: str) -> None:
    limits = AnswerLimits(max_chars=50, encoding="cp949")
    try:
        once = limits.check(text, platform="11번가")
    except PermanentError:
        return
    assert limits.check(once, platform="11번가") == once


@given(
    st.text(alphabet="abcdefghijklmnop0123456789", min_size=1, max_size=20),
    st.sampled_from(["GET", "POST"]),
    st.text(alphabet="abcdefghij=&0123456789-", max_size=40),
)
def test_client_and_simulator_agree_on_every_signature(
    secret: str, method: str, query: str
) -> None:
    path = "/v2/providers/openapi/apis/api/v5/vendors/A00010028/onlineInquiries"
    raw_path = f"{path}?{query}" if query else path

    assert signature(secret, "261120T061203Z", method, path, query) == expected_signature(
        secret, "261120T061203Z", method, raw_path
    )
