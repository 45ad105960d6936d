"""11st XML on raw-byte fixtures: EUC-KR/CP949 and UTF-8, declared or not, `ns2:` prefix or
not; in-band errors; the answer document we send."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from inbox_core.errors import AuthError, InvalidPayload, PermanentError, TransientError
from inbox_ingest_marketplace.channels.elevenst import normalise_product_qna
from inbox_ingest_marketplace.channels.elevenst_xml import (
    answer_xml,
    codec_for,
    decode_xml,
    error_for_result,
    parse_qna_list,
    parse_xml,
    result_of,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "elevenst"
CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def _root(name: str, content_type: str | None = None) -> ET.Element:
    folder = FIXTURES if (FIXTURES / name).exists() else FIXTURES / "responses"
    return parse_xml(decode_xml((folder / name).read_bytes(), content_type))


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_qna_list_gives_one_question_with_its_answers(case: str) -> None:
    """The message of each pair is checked by the conformance suite; here what 11st adds:
    the platform's answers and whether the question was deleted (hidden)."""
    expected: dict[str, Any] = orjson.loads((FIXTURES / f"{case}.expected.json").read_bytes())

    content_type = expected["request"]["headers"]["Content-Type"]
    listed = parse_qna_list(_root(f"{case}.xml", content_type))
    question = normalise_product_qna(listed.items[0], "11st")

    assert len(listed.items) == 1 and listed.result_code is None
    assert [a.text for a in question.answers] == expected["answers"]
    assert question.deleted is expected["deleted"]


def test_cp949_syllable_is_lost_by_a_strict_euc_kr_decoder_but_not_by_ours() -> None:
    raw = (FIXTURES / "cp949_syllable_under_euckr_label.xml").read_bytes()

    with pytest.raises(UnicodeDecodeError):
        raw.decode("euc_kr")
    assert "똠양꿍" in decode_xml(raw, "text/xml; charset=euc-kr")


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("EUC-KR", "cp949"),
        ("euc_kr", "cp949"),
        ("ks_c_5601-1987", "cp949"),
        ("x-windows-949", "cp949"),
        ("UTF-8", "utf-8"),
        ("no-such-charset", None),
        (None, None),
    ],
    ids=["euc-kr", "euc_kr", "ks_c_5601", "windows-949", "utf-8", "unknown", "none"],
)
def test_charset_labels_map_euc_kr_to_cp949(label: str | None, codec: str | None) -> None:
    assert codec_for(label) == codec


@pytest.mark.parametrize(
    ("fixture", "kind", "text"),
    [
        ("error_period_euckr.xml", PermanentError, "최대 조회기간은 7일"),
        ("error_unknown_key.xml", AuthError, "OpenAPI Key"),
        ("error_maintenance.xml", TransientError, "-1000"),
    ],
    ids=["period-over-7-days", "unknown-key", "maintenance"],
)
def test_in_band_errors_map_to_the_taxonomy(fixture: str, kind: type[Exception], text: str) -> None:
    code, message = result_of(_root(fixture))

    err = error_for_result(code, message, what="elevenst GET prodqnalist")

    assert type(err) is kind
    assert text in str(err)


@pytest.mark.parametrize(
    "fixture", ["error_no_results.xml", "answer_saved.xml"], ids=["nothing-found", "saved"]
)
def test_nothing_found_and_success_are_no_errors(fixture: str) -> None:
    code, message = result_of(_root(fixture))

    assert error_for_result(code, message, what="elevenst") is None


def test_nothing_found_is_an_empty_list() -> None:
    assert parse_qna_list(_root("error_no_results.xml")).items == []


def test_answer_document_is_euc_kr_declared_cp949_bytes_with_markup_escaped() -> None:
    text = "정사이즈입니다 <270> & 똠양꿍 맛은 다음 주 입고!\n감사합니다."

    body = answer_xml(text)

    assert body.startswith(b'<?xml version="1.0" encoding="euc-kr"?>')
    decoded = body.decode("cp949")
    assert "&lt;270&gt; &amp;" in decoded
    assert parse_xml(decoded).findtext("answerCont") == text


@pytest.mark.parametrize(
    "raw",
    [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
    ],
    ids=["garbage", "doctype"],
)
def test_unreadable_or_dangerous_xml_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_xml(decode_xml(raw))
