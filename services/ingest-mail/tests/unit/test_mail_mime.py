"""Charsets, RFC 2047 words, HTML to text, quote stripping and recipient → account."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from inbox_ingest_mail.charsets import codec_for, decode_bytes
from inbox_ingest_mail.headers import decode_words, filename_of, message_id
from inbox_ingest_mail.html_text import html_to_text
from inbox_ingest_mail.smtp import account_for, recipient_tag
from inbox_ingest_mail.visible_text import visible_text


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("EUC-KR", "cp949"),
        ("ks_c_5601-1987", "cp949"),
        ('"x-windows-949"', "cp949"),
        ("UTF-8", "utf-8"),
        ("iso-2022-kr", "iso2022_kr"),
        ("no-such-charset", None),
        ("", None),
    ],
    ids=["euc_kr", "outlook_ks_c", "x_windows_949_quoted", "utf8", "iso2022kr", "unknown", "empty"],
)
def test_charset_labels_map_to_codecs(label: str, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_euc_kr_label_decodes_cp949_only_syllables() -> None:
    assert decode_bytes("똠방각하".encode("cp949"), "euc-kr") == "똠방각하"


def test_wrong_or_missing_charset_falls_back_to_utf8_then_cp949() -> None:
    assert decode_bytes("배송".encode(), "us-ascii") == "배송"
    assert decode_bytes("배송".encode("cp949"), None) == "배송"
    assert "\ufffd" in decode_bytes(b"\xff\xfe\xfa", "utf-8")


def test_encoded_words_split_inside_a_character_are_joined_before_decoding() -> None:
    data = "똠양꿍".encode("cp949")
    first, second = base64.b64encode(data[:3]).decode(), base64.b64encode(data[3:]).decode()
    assert decode_words(f"=?EUC-KR?B?{first}?=\r\n =?EUC-KR?B?{second}?=") == "똠양꿍"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?UTF-8?Q?=EB=B0=B0=EC=86=A1_=EB=AC=B8=EC=9D=98?=", "배송 문의"),
        ("Re: =?utf-8?B?7KO866y4?= 건", "Re: 주문 건"),
        ("=?utf-8*ko?B?7KO866y4?=", "주문"),
        ("plain text", "plain text"),
        ("=?utf-8?B?!!!?", "=?utf-8?B?!!!?"),
    ],
    ids=["q_encoding", "mixed_plain_and_word", "rfc2231_language", "no_words", "broken_word"],
)
def test_decode_words(raw: str, text: str) -> None:
    assert decode_words(raw) == text


def test_html_to_text_keeps_lines_and_marks_blockquotes() -> None:
    html = (
        "<div>네 확인했습니다.<br>감사합니다</div>"
        "<blockquote><p>주문하신 상품이</p><p>발송되었습니다 &gt; 확인</p></blockquote>"
    )
    assert html_to_text(html) == (
        "네 확인했습니다.\n감사합니다\n\n> 주문하신 상품이\n\n> 발송되었습니다 > 확인"
    )


def test_html_to_text_survives_markup_that_breaks_html_parser() -> None:
    assert "안녕" in html_to_text("<![bogus[ x ]]> 안녕 <b>하세요")


@pytest.mark.parametrize(
    ("body", "visible"),
    [
        (
            "감사합니다\n\nOn Mon, 3 Mar 2025 at 10:00, CS <cs@shop.example> wrote:\n"
            "> 안내\n> 드립니다\n",
            "감사합니다",
        ),
        (
            "네\n\nOn Mon, 3 Mar 2025 at 10:00, Shop Customer Center\n"
            "<cs@shop.example> wrote:\n> x\n",
            "네",
        ),
        (
            "교환할게요\n\n"
            "2025년 3월 5일 (수) 오후 5:32, 고객센터 <cs@shop.example>님이 작성:\n> 사이즈?\n",
            "교환할게요",
        ),
        (
            "계좌 보냅니다\n-----Original Message-----\nFrom: cs\nSubject: 환불\n\n환불 계좌?",
            "계좌 보냅니다",
        ),
        ("답장\n\n------ 원본 메일 ------\n보낸 사람: cs", "답장"),
        (
            "확인\n\n보낸 사람: 고객센터 <cs@shop.example>\n보낸 날짜: 2025년 3월 5일\n제목: 환불",
            "확인",
        ),
        ("> 인용만 있는 답장\n> 두 줄\n", "> 인용만 있는 답장\n> 두 줄"),
        ("위에 답\n> 인용\n사이 답\n> 인용2\n", "위에 답\n> 인용\n사이 답"),
        ("그냥 본문", "그냥 본문"),
    ],
    ids=[
        "gmail_en",
        "gmail_en_wrapped",
        "gmail_ko",
        "original_message",
        "daum_original",
        "outlook_ko_header_block",
        "only_quotes_keeps_body",
        "interleaved_keeps_inline_answers",
        "no_quote",
    ],
)
def test_visible_text(body: str, visible: str) -> None:
    assert visible_text(body) == visible


@pytest.mark.parametrize(
    ("address", "account", "tag"),
    [
        ("cs@shop.example", "cs", None),
        ("CS.Team@Shop.Example", "cs_team", None),
        ("support+a1b2@shop.example", "support", "a1b2"),
        ('"odd name"@shop.example', "odd_name", None),
        ("+only-tag@shop.example", None, "only-tag"),
        ("고객센터@shop.example", None, None),
        ("x" * 80 + "@shop.example", "x" * 64, None),
    ],
    ids=[
        "plain",
        "dots_and_case",
        "plus_tag",
        "quoted",
        "empty_after_tag",
        "non_ascii",
        "too_long",
    ],
)
def test_recipient_names_an_account(address: str, account: str | None, tag: str | None) -> None:
    assert account_for(address) == account
    assert recipient_tag(address) == tag


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<CAF=x@mail.gmail.com>", "CAF=x@mail.gmail.com"),
        ("  <a@b>  (comment)", "a@b"),
        ("bare@id.example", "bare@id.example"),
        ("has space@x", None),
        ("<" + "a" * 300 + "@x>", None),
        ("", None),
    ],
    ids=["angle", "comment", "bare", "space", "too_long", "empty"],
)
def test_message_id(header: str, expected: str | None) -> None:
    assert message_id(header) == expected


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="../../etc/passwd"', "_.._etc_passwd"),
        ('attachment; filename="..\\\\..\\\\boot.ini"', "_.._boot.ini"),
        (
            "attachment; filename*=UTF-8''..%2F..%2F%EC%98%81%EC%88%98%EC%A6%9D.pdf",
            "_.._영수증.pdf",
        ),
        ('attachment; filename="a\x01b.txt"', "a_b.txt"),
        ('attachment; filename="..."', None),
    ],
)
def test_attachment_file_names_are_base_names_without_control_characters(
    header: str, name: str | None
) -> None:
    part = EmailMessage()
    part["Content-Disposition"] = header
    assert filename_of(part) == name
