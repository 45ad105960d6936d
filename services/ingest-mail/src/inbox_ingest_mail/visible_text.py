"""The visible part of a mail: quoted history and signatures stripped. Pure and total.

One function per heuristic, run in the declared order of `STEPS` (Zammad style). Each takes
the lines left by the previous ones and returns a prefix of them (a cut), so the order only
decides which name is reported. `visible_text` never returns an empty text for a non-empty
body: when the cuts leave nothing (a mail that is only a forward, or only "iPhone에서 보냄"),
it falls back to the text without the signature cuts, then to the whole body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

Step = Callable[[list[str]], list[str]]

# --- patterns -----------------------------------------------------------------------------
# Naver mail and classic Outlook "-----Original Message-----", Outlook ko "-----원본 메시지-----",
# Daum/Kakao "------ 원본 메일 ------".
_ORIGINAL_MESSAGE: Final = re.compile(
    r"^\s*-{2,}\s*(?:Original\s+Message|원본\s*(?:메일|메시지))\s*-{2,}\s*$", re.I
)
# Gmail "---------- Forwarded message ---------", ko "---------- 전달된 메일 ---------",
# Apple "Begin forwarded message:" / "전달된 메일:".
_FORWARDED: Final = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded\s+message|전달된\s*(?:메일|메시지))\s*-{2,}"
    r"|Begin forwarded message\s*:|전달된\s*메일\s*:)\s*$",
    re.I,
)
_OUTLOOK_FROM: Final = re.compile(r"^\s*\**\s*(?:From|보낸\s*사람)\s*\**\s*[:：]", re.I)
_OUTLOOK_SENT: Final = re.compile(r"^\s*\**\s*(?:Sent|Date|보낸\s*날짜|날짜)\s*\**\s*[:：]", re.I)
_OUTLOOK_TO: Final = re.compile(r"^\s*\**\s*(?:To|Subject|받는\s*사람|제목)\s*\**\s*[:：]", re.I)
_RULE: Final = re.compile(r"^\s*[_\-=─]{8,}\s*$")
# Gmail en "On Wed, Mar 5, 2025 at 10:15 AM Name <a@b> wrote:", Gmail ko
# "2025년 3월 5일 (수) 오전 10:15, Name <a@b>님이 작성:", Apple ko
# "2025. 3. 5. 오전 10:15, Name <a@b> 작성:".
_ATTRIBUTION: Final = re.compile(
    r"^\s*(?:On\s.{4,300}\swrote\s*:"
    r"|.{1,300}님이\s*작성(?:한\s*내용)?\s*[:：]"
    r"|\d{4}\.\s*\d{1,2}\.\s*\d{1,2}\.?\s.{1,300}\s작성\s*[:：])\s*$",
    re.I,
)
_MOBILE_SIGNATURE: Final = re.compile(
    r"^\s*(?:"
    r"Sent from (?:my )?\S.{0,40}"
    r"|Get Outlook for (?:iOS|Android)"
    r"|(?:iOS|Android)용\s*Outlook\s*(?:받기|다운로드)?"
    r"|.{0,30}(?:iPhone|iPad|Galaxy|갤럭시|Android|안드로이드|스마트폰|모바일|Samsung|삼성)"
    r".{0,30}에서\s*보(?:냄|냈습니다|내기|낸\s*메일)"
    r")\s*\.?\s*$",
    re.I,
)
_SIGNATURE_DELIMITER: Final = re.compile(r"^-- ?$")  # RFC 3676 "-- "
MAX_SIGNATURE_LINES: Final = 10
MAX_PASSES: Final = 5


def _first(lines: list[str], pattern: re.Pattern[str]) -> int | None:
    return next((i for i, line in enumerate(lines) if pattern.match(line)), None)


def _with_rule_above(lines: list[str], index: int) -> int:
    """Include a rule line (`_____`) just above a header block, blank lines between."""
    above = index - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    return above if above >= 0 and _RULE.match(lines[above]) else index


# --- the heuristics, in the order they run --------------------------------------------------
def original_message_separator(lines: list[str]) -> list[str]:
    """Naver, Daum/Kakao and classic Outlook put the original under a separator line."""
    index = _first(lines, _ORIGINAL_MESSAGE)
    return lines if index is None else lines[:index]


def forwarded_message_separator(lines: list[str]) -> list[str]:
    index = _first(lines, _FORWARDED)
    return lines if index is None else lines[:index]


def outlook_header_block(lines: list[str]) -> list[str]:
    """Outlook (ko/en): `보낸 사람:`/`From:`, then `보낸 날짜:`/`Sent:` within three lines,
    then `받는 사람:`/`제목:`/`To:`/`Subject:` within six: the quoted original starts there."""
    for i, line in enumerate(lines):
        if not _OUTLOOK_FROM.match(line):
            continue
        sent = next(
            (j for j in range(i + 1, min(i + 4, len(lines))) if _OUTLOOK_SENT.match(lines[j])), None
        )
        if sent is None:
            continue
        if any(_OUTLOOK_TO.match(n) for n in lines[i + 1 : i + 7]):
            return lines[: _with_rule_above(lines, i)]
    return lines


def _attribution_at(lines: list[str], i: int) -> int:
    """How many lines the attribution starting at `i` spans (0: none); it may wrap once."""
    if _ATTRIBUTION.match(lines[i]):
        return 1
    if i + 1 < len(lines) and _ATTRIBUTION.match(lines[i].rstrip() + " " + lines[i + 1].strip()):
        return 2
    return 0


def reply_attribution(lines: list[str]) -> list[str]:
    """Gmail (ko/en) and Apple Mail: an attribution line followed by quoted lines (or by
    nothing, or only by more attributions): the reply is what comes before it."""
    for i in range(len(lines)):
        span = _attribution_at(lines, i)
        if not span:
            continue
        rest = [j for j in range(i + span, len(lines)) if lines[j].strip()]
        if not rest or lines[rest[0]].lstrip().startswith(">"):
            return lines[:i]
        if all(lines[j].lstrip().startswith(">") or _attribution_at(lines, j) for j in rest):
            return lines[:i]
    return lines


def trailing_quote_lines(lines: list[str]) -> list[str]:
    """`>` quoted lines at the end (inline answers between quotes are kept)."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    return lines[:end]


def mobile_signature(lines: list[str]) -> list[str]:
    """ "iPhone에서 보냄", "Galaxy에서 보냄", "Sent from my iPhone", "Get Outlook for iOS"
    among the last three non-empty lines."""
    tail = [i for i, line in enumerate(lines) if line.strip()][-3:]
    for i in tail:
        if _MOBILE_SIGNATURE.match(lines[i]):
            return lines[:i]
    return lines


def signature_delimiter(lines: list[str]) -> list[str]:
    """The RFC 3676 `-- ` line and a short signature after it."""
    for i in range(len(lines) - 1, -1, -1):
        if _SIGNATURE_DELIMITER.match(lines[i]):
            return lines[:i] if len(lines) - i <= MAX_SIGNATURE_LINES + 1 else lines
    return lines


QUOTE_STEPS: Final[tuple[Step, ...]] = (
    original_message_separator,
    forwarded_message_separator,
    outlook_header_block,
    reply_attribution,
    trailing_quote_lines,
)
SIGNATURE_STEPS: Final[tuple[Step, ...]] = (mobile_signature, signature_delimiter)
STEPS: Final = QUOTE_STEPS + SIGNATURE_STEPS


def _run(lines: list[str], steps: tuple[Step, ...], fired: list[str]) -> list[str]:
    for step in steps:
        cut = step(lines)
        if any(line.strip() for line in lines[len(cut) :]):  # it removed more than blanks
            fired.append(step.__name__)
        lines = cut
    return lines


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n").strip()


def visible_text(body: str, fired: list[str] | None = None) -> str:
    """The new part of a reply. `fired` (when given) collects the names of the steps whose
    cut was kept. Never empty for a non-empty body."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    quote_cuts: list[str] = []
    signature_cuts: list[str] = []
    without_quotes = _run(lines, QUOTE_STEPS, quote_cuts)
    cut = _run(without_quotes, SIGNATURE_STEPS, signature_cuts)
    # A signature cut can bare a quote above it ("> …", "-- ", "sig"): repeat to a fixpoint.
    for _ in range(MAX_PASSES):
        again = _run(_run(cut, QUOTE_STEPS, quote_cuts), SIGNATURE_STEPS, signature_cuts)
        if again == cut:
            break
        cut = again
    visible = _join(cut)
    if not visible:
        signature_cuts = []
        visible = _join(without_quotes)
    if not visible:
        quote_cuts = []
        visible = body.strip() or body
    if fired is not None:
        fired.extend(dict.fromkeys(quote_cuts + signature_cuts))
    return visible
