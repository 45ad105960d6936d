"""The FAQ matcher: which FAQ entry does a customer message ask, and is it sure enough to
answer with no agent?

Customers write the same question a hundred ways: "배송 얼마나 걸려요", "배송기간좀요ㅠ",
"delivery 며칠?", "베송 언제와여". The text is folded with the router's normalisation
(`inbox_core.korean_text`: NFKC, case, spacing, known typos), stripped of laughter, crying and
punctuation, and turned into character n-grams (1–3 syllables or letters) weighted by TF-IDF
over every entry's question and examples. Character n-grams need no dictionary and survive
missing spaces and single-syllable typos; kiwipiepy morphemes were not tried, since the
targets are met without them (see the README, "FAQ and the bot").

An entry's score is its best cosine similarity over its question and examples. `auto` (answer
with no agent) needs the score above a threshold, a margin over the next entry, and none of
the signs that a person must look: a complaint or a specific case (an order number, "아직 안
왔어요", "파손"), or a message too long to be a plain question. The threshold and margin were
calibrated on the tuning part of the labelled set only (libs/inbox-core/tests/faq/).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from inbox_core.korean_text import DEFAULT_NORMALISER

# Calibrated on tests/faq/tuning.tsv (never on the held-out file).
AUTO_THRESHOLD: Final = 0.55
AUTO_MARGIN: Final = 0.12
MIN_SCORE: Final = 0.15  # weaker matches are noise, not suggestions (no top-3 hit lost)
MAX_AUTO_CHARS: Final = 80  # compact characters; longer messages tell a story an agent reads
NGRAM_SIZES: Final = (1, 2, 3)

# Spelling variants of FAQ words that the router's list does not carry.
_FAQ_VARIANTS: Final = (
    ("어케", "어떻게"),
    ("어떡해", "어떻게"),
    ("얼마나걸", "며칠걸"),
    ("몇일", "며칠"),
    ("멫일", "며칠"),
    ("언제와여", "언제와요"),
    ("에여", "에요"),
    ("하나여", "하나요"),
    ("되나여", "되나요"),
    ("나여", "나요"),
    ("쿠퐁", "쿠폰"),
    ("적립굼", "적립금"),
    ("반폼", "반품"),
    ("교한", "교환"),
    ("환볼", "환불"),
)
# English words customers mix in, as whole words (with an English ending).
_ENGLISH: Final = {
    "delivery": "배송",
    "shipping": "배송",
    "ship": "배송",
    "refund": "환불",
    "return": "반품",
    "exchange": "교환",
    "coupon": "쿠폰",
    "restock": "재입고",
    "size": "사이즈",
    "point": "적립금",
    "password": "비밀번호",
    "app": "앱",
    "cancel": "취소",
    "store": "매장",
    "offline": "오프라인",
    "receipt": "영수증",
    "gift": "선물",
    "wrapping": "포장",
    "wrap": "포장",
    "tracking": "조회",
    "international": "해외",
    "overseas": "해외",
}
_ENGLISH_PHRASES: Final = {"how long": "며칠 걸려요", "how much": "얼마"}
_ENGLISH_WORD: Final = re.compile(r"[a-z]+")
# Question shells every entry shares ("...방법 알려주세요", "...가능한가요"): left out, so
# the topic words decide.
_SHELLS: Final = (
    "알려주세요",
    "알려주실수있나요",
    "알려줘요",
    "부탁드려요",
    "부탁드립니다",
    "궁금해요",
    "궁금합니다",
    "가능한가요",
    "가능할까요",
    "가능해요",
    "방법",
    "어떻게",
    "하는법",
    "하나요",
    "되나요",
    "돼요",
    "되요",
    "있나요",
    "있어요",
    "인가요",
)
_NOISE: Final = re.compile(r"[ㅋㅎㅠㅜㅡ~!?.,^;:·…'\"()\[\]{}<>*#@%&+=|/\\-]+")
_REPEAT: Final = re.compile(r"(.)\1{2,}")
_ORDER_NUMBER: Final = re.compile(r"\d[\d-]{7,}\d")

# Words that ask for a person: always handed to an agent, never answered by the bot.
_PERSON: Final = (
    "상담원",
    "상담사",
    "사람",
    "직원연결",
    "직원이랑",
    "직원분",
    "매니저연결",
    "human",
)
# Signs of a complaint or of one specific case: a person should read it, even when it
# mentions an FAQ topic ("배송이 아직도 안 와요" is not "how long does delivery take").
_SPECIFIC: Final = (
    "아직",
    "안왔",
    "안와",
    "안오",
    "안들어",
    "못받",
    "안받",
    "왜",
    "사라졌",
    "잘못",
    "틀렸",
    "틀려",
    "덜들어",
    "덜왔",
    "받았는데",
    "없어졌",
    "화나",
    "짜증",
    "어이없",
    "실망",
    "최악",
    "장난",
    "불량",
    "파손",
    "찢어",
    "깨져",
    "깨졌",
    "구멍",
    "얼룩",
    "오염",
    "냄새",
    "잘못왔",
    "잘못배송",
    "오배송",
    "다른상품",
    "다른게왔",
    "누락",
    "빠져",
    "빠졌",
    "하나만왔",
    "분실",
    "사기",
    "신고",
    "소비자원",
    "두번결제",
    "중복결제",
    "이중결제",
    "결제됐는데",
    "결제되었는데",
    "했는데",
    "했거든",
    "신청했",
    "보냈는데",
    "접수했",
)


def fold(text: str) -> str:
    """The text as the matcher compares it: the router's compact view (no spaces, NFKC,
    lower case, typo variants), laughter and punctuation removed, repeats shortened."""
    spaced = DEFAULT_NORMALISER.spaced(text)
    for phrase, korean in _ENGLISH_PHRASES.items():
        spaced = spaced.replace(phrase, korean)
    spaced = _ENGLISH_WORD.sub(lambda m: _english(m.group(0)), spaced)
    compact = _NOISE.sub("", spaced.replace(" ", ""))
    compact = _REPEAT.sub(r"\1\1", compact)
    for variant, standard in _FAQ_VARIANTS:
        compact = compact.replace(variant, standard)
    # Removing noise can bring a letter and a combining mark together: compose them again.
    return unicodedata.normalize("NFKC", compact)


def _english(word: str) -> str:
    for candidate in (word, word.removesuffix("s"), word.removesuffix("ing")):
        if candidate in _ENGLISH:
            return _ENGLISH[candidate]
    return word


def strip_shells(folded: str) -> str:
    for shell in _SHELLS:
        folded = folded.replace(shell, "")
    return folded


def wants_person(text: str) -> bool:
    """ "상담원 연결해주세요", "사람이랑 얘기할래요": the customer asked for a person."""
    folded = fold(text)
    return any(word in folded for word in _PERSON)


def needs_person(text: str) -> bool:
    """A complaint, a specific case or a request for a person: never answered automatically."""
    folded = fold(text)
    return (
        wants_person(text)
        or _ORDER_NUMBER.search(text) is not None
        or any(sign in folded for sign in _SPECIFIC)
        or len(folded) > MAX_AUTO_CHARS
    )


def ngrams(folded: str) -> Counter[str]:
    folded = strip_shells(folded) or folded
    padded = f"^{folded}$"
    grams: Counter[str] = Counter()
    for n in NGRAM_SIZES:
        source = folded if n == 1 else padded
        grams.update(source[i : i + n] for i in range(len(source) - n + 1))
    return grams


@dataclass(frozen=True)
class Scored:
    key: str
    score: float


class TfidfIndex:
    """Sparse TF-IDF vectors of labelled documents with an inverted index for cosine search."""

    def __init__(self, docs: Sequence[tuple[str, str]]) -> None:
        """`docs` are (label, text) pairs; a label may have many documents."""
        folded = [(label, ngrams(fold(text))) for label, text in docs]
        # Document frequency counts labels, not documents: a gram in every example of one
        # entry is that entry's topic, a gram in many entries is a question shell.
        by_label: defaultdict[str, set[str]] = defaultdict(set)
        for label, grams in folded:
            by_label[label].update(grams.keys())
        df: Counter[str] = Counter()
        for grams_of_label in by_label.values():
            df.update(grams_of_label)
        total = max(len(by_label), 1)
        self._idf = {g: math.log((1 + total) / (1 + n)) + 1.0 for g, n in df.items()}
        self._labels: list[str] = []
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, (label, grams) in enumerate(folded):
            self._labels.append(label)
            for gram, weight in self._vector(grams).items():
                self._postings[gram].append((i, weight))

    def _vector(self, grams: Counter[str]) -> dict[str, float]:
        raw = {g: (1.0 + math.log(c)) * self._idf[g] for g, c in grams.items() if g in self._idf}
        norm = math.sqrt(sum(w * w for w in raw.values())) or 1.0
        return {g: w / norm for g, w in raw.items()}

    def best_by_label(self, text: str) -> list[Scored]:
        """Every label with its best document similarity to `text`, best first."""
        query = self._vector(ngrams(fold(text)))
        sims: defaultdict[int, float] = defaultdict(float)
        for gram, weight in query.items():
            for doc, doc_weight in self._postings.get(gram, ()):
                sims[doc] += weight * doc_weight
        best: dict[str, float] = {}
        for doc, sim in sims.items():
            label = self._labels[doc]
            if sim > best.get(label, 0.0):
                best[label] = sim
        return sorted(
            (Scored(label, round(score, 4)) for label, score in best.items()),
            key=lambda s: (-s.score, s.key),
        )


@dataclass(frozen=True)
class MatchResult:
    matches: list[Scored]  # best first
    auto: bool  # the best match is sure enough to answer with no agent


class FaqMatcher:
    """Matches text against entries given as (entry id, [question, *examples])."""

    def __init__(
        self,
        entries: Iterable[tuple[str, Sequence[str]]],
        *,
        threshold: float = AUTO_THRESHOLD,
        margin: float = AUTO_MARGIN,
    ) -> None:
        docs = [(key, text) for key, texts in entries for text in texts if text.strip()]
        self.index = TfidfIndex(docs)
        self.threshold = threshold
        self.margin = margin

    def match(self, text: str, limit: int = 3) -> MatchResult:
        scored = self.index.best_by_label(text) if fold(text) else []
        top = [s for s in scored[:limit] if s.score >= MIN_SCORE]
        if not top:
            return MatchResult([], False)
        runner_up = scored[1].score if len(scored) > 1 else 0.0
        sure = top[0].score >= self.threshold and top[0].score - runner_up >= self.margin
        return MatchResult(top, sure and not needs_person(text))
