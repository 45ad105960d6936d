"""Thanks-only detection (conversation rule 2).

A reply that only thanks or acknowledges ("감사합니다", "네 확인했습니다 감사합니다 :)",
"Thanks a lot!", "넵 👍") does not reopen a resolved conversation. A thanks plus anything
else ("감사합니다. 그런데 교환은 어떻게 하나요?") does. When in doubt the answer is "not
thanks-only": reopening by mistake costs an agent a click, keeping a real question closed
loses a customer.

The text is folded (NFKC, lower case), signature lines ("김민수 드림") and emoticons are
dropped, then only letters and digits are kept. What is left must be covered entirely by
known phrases, and at least one of them must be a thanks, an acknowledgement or a closing
(modifiers such as "정말", "빠른 답변" do not count on their own).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_CHARS: Final = 200  # longer replies say more than thanks

# Phrases that make a reply thanks-only (thanks, acknowledgements, closings).
_SUFFICIENT: Final = [
    # Korean thanks
    r"감사(?:합니다|합니당|합니닷|함다|해요|해여|해용|드립니다|드려요|드려용|했습니다|했어요|"
    r"하다|요|욥)?",
    r"고맙(?:습니다|습니당|네요|어요)",
    r"고마워(?:요|용|여)?",
    r"고마웠(?:어요|습니다)",
    r"땡큐|땡스|쌩유|쌩큐",
    # Korean acknowledgements
    r"네+|넵+|넹+|넴|예|옙",
    r"알겠(?:습니다|습니당|어요|어용)|알았(?:어요|습니다)",
    r"확인(?:했습니다|했어요|했습니당|했어용|완료|됐습니다|됐어요|되었습니다)",
    r"(?:잘)?받았(?:습니다|어요|어용|습니당)",
    r"해결(?:됐어요|됐습니다|되었습니다|되었어요|완료)",
    r"좋(?:아요|습니다|네요)|굿+|최고(?:예요|에요|입니다)?",
    r"오케이|오키|응|웅",
    # Korean closings
    r"수고(?:하세요|하십시오|많으세요|하셨습니다|많으셨습니다|하셨어요)",
    r"고생(?:하셨습니다|많으셨습니다|하셨어요)",
    r"(?:좋은|행복한|즐거운)(?:하루|주말|저녁|오후)(?:되세요|보내세요|되십시오)",
    r"안녕히계세요",
    r"잘쓸게요|잘쓰겠습니다|잘입을게요|잘입겠습니다",
    # English
    r"thank(?:you|s)|thanx|thnx|thx|tysm|ty",
    r"(?:much)?appreciated|appreciateit",
    r"cheers|ok(?:ay)?|k|gotit|noted|perfect|great|awesome|cool|good|yes|yep|sure",
    r"(?:best|kind|warm)?regards|best",
    r"havea(?:nice|good|great)(?:day|weekend)",
]

# Words that may surround a thanks but say nothing on their own.
_MODIFIERS: Final = [
    r"정말|진짜|너무|넘|매우|대단히|늘|항상|많이|참|완전|다시한번|거듭",
    r"빠른|빠르게|친절한|친절하게|자세한|자세하게|신속한|신속하게",
    r"답변|답장|안내|응대|도움|확인|처리|연락|설명",
    r"주셔서|해주셔서|도와주셔서|알려주셔서|처리해주셔서|답변해주셔서",
    r"드립니다|드려요",
    r"so|very|much|alot|a|lot|many|again|for|the|your|help|quick|reply|response|all|and",
    r"you|really|i",
]


def _compile(pattern: str) -> re.Pattern[str]:
    # Text is NFKC-folded before matching (compatibility jamo such as ㅋ become conjoining
    # jamo), so patterns are folded the same way.
    return re.compile(unicodedata.normalize("NFKC", pattern))


_SUFFICIENT_RE: Final = [_compile(p) for p in _SUFFICIENT]
_ALL_RE: Final = _SUFFICIENT_RE + [_compile(p) for p in _MODIFIERS]
_EMOTICON = _compile(
    r"(?<![a-z0-9])[:;=8x][-^']?[)(\]\[dp3*o](?![a-z0-9])|<3|\^\^|\^_\^|"
    # laughing and crying jamo (ㅎ ㅋ ㅠ ㅜ ㅡ), conjoining forms as NFKC leaves them
    r"[\u1112\u110f\u1172\u116e\u1173]+"
)
_OK_JAMO = _compile(r"ㅇㅋ|ㅇㅇ")
_SIGNATURE_LINE = re.compile(r"^\s*(?:-+\s*)?\S{1,12}\s*(?:드림|올림|배상)\s*$")
_SENT_FROM = re.compile(r"^\s*(?:sent from my \w+|\w+에서 보냄)\s*$")


def _letters(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def _covers(text: str) -> bool:
    """Whether `text` is a sequence of known phrases with at least one sufficient phrase."""
    position, sufficient = 0, False
    while position < len(text):
        best, best_is_sufficient = 0, False
        for index, pattern in enumerate(_ALL_RE):
            match = pattern.match(text, position)
            if match and match.end() - position > best:
                best = match.end() - position
                best_is_sufficient = index < len(_SUFFICIENT_RE)
        if best == 0:
            return False
        sufficient = sufficient or best_is_sufficient
        position += best
    return sufficient


def is_thanks_only(text: str, *, customer_name: str | None = None) -> bool:
    """True when `text` only thanks, acknowledges or closes the conversation."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if "?" in folded:
        return False
    lines = [
        line
        for line in folded.splitlines()
        if not _SIGNATURE_LINE.match(line) and not _SENT_FROM.match(line)
    ]
    body = _EMOTICON.sub(" ", _OK_JAMO.sub(" 오케이 ", "\n".join(lines)))
    if customer_name:
        name = _letters(unicodedata.normalize("NFKC", customer_name).lower())
        body = body.replace(name, " ") if name else body
    letters = _letters(body)
    if not letters or len(letters) > MAX_CHARS:
        return False
    return _covers(letters)
