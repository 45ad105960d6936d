"""Korean text normalisation for matching (router rules and FAQ matcher), and keyword matchers.

Customers write "배송 언제", "배송언제", "ＲＥＦＵＮＤ", "베송" and "환블". Before matching,
text is NFKC-normalised (full-width → ASCII, compatibility jamo → standard), lower-cased and
known variants are replaced (`DEFAULT_VARIANTS`: common misspellings and spoken forms). Two
views are kept:

- compact: no whitespace at all. Keywords with Hangul match anywhere in it, so spacing does
  not matter ("배송 언제" = "배송언제").
- spaced: whitespace collapsed to one space. Keywords without Hangul (English words, numbers)
  match whole words in it, with an optional English ending ("refund" matches "refunds",
  "refunded"; "app" does not match "happy"). Regular expressions run on this view.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

# Misspellings and spoken variants seen in Korean shop inquiries, replaced before matching.
# Only whole, unambiguous forms: "제고" (→ 재고) is left out because it also occurs inside
# "문제고요".
DEFAULT_VARIANTS: Final[Mapping[str, str]] = {
    "베송": "배송",  # ㅐ/ㅔ confusion
    "배숑": "배송",  # playful spoken form
    "택베": "택배",
    "제입고": "재입고",
    "환블": "환불",  # ㅜ/ㅡ are neighbouring keys
    "싸이즈": "사이즈",
    "로긴": "로그인",
    "어플리케이션": "앱",  # synonyms of 앱 (app)
    "애플리케이션": "앱",
    "어플": "앱",
    "비번": "비밀번호",  # common abbreviation
}

_WHITESPACE = re.compile(r"\s+")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN_ENDINGS = "(?:s|es|ed|d|ing)?"


def _boundary(char: str, template: str) -> str:
    if char.isascii() and char.isalpha():
        return template.format("[a-z]")
    if char.isdigit():
        return template.format("[0-9]")
    return ""


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class Normaliser:
    """Folds text and replaces variants; one instance per rule set (the variants are config)."""

    def __init__(self, variants: Mapping[str, str] = DEFAULT_VARIANTS) -> None:
        pairs = {_WHITESPACE.sub("", _fold(k)): _fold(v) for k, v in variants.items() if k}
        # Longest first, so "어플리케이션" wins over "어플".
        self._variants = sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(k) for k, _ in self._variants))
            if self._variants
            else None
        )
        self._replacement = dict(self._variants)

    def _replace(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._replacement[m.group(0)], text)

    def spaced(self, text: str) -> str:
        """NFKC, lower case, variants replaced, whitespace collapsed to one space."""
        return self._replace(_WHITESPACE.sub(" ", _fold(text)).strip())

    def compact(self, text: str) -> str:
        """NFKC, lower case, variants replaced, no whitespace at all."""
        return self._replace(_WHITESPACE.sub("", _fold(text)))


DEFAULT_NORMALISER: Final = Normaliser()


def normalise_text(text: str) -> str:
    """The compact view with the default variants: '배 송' and '배송' are equal."""
    return DEFAULT_NORMALISER.compact(text)


def normalise_phone(phone: str | None) -> str | None:
    """Digits only, Korean international form folded: '+82 10-1234-5678' → '01012345678'."""
    raw = (phone or "").strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.startswith("+82") and digits.startswith("82"):
        rest = digits[2:]
        digits = rest if rest.startswith("0") else "0" + rest
    return digits or None


@dataclass(frozen=True)
class FieldText:
    """One searchable field of a message in both views."""

    name: str
    spaced: str
    compact: str


@dataclass(frozen=True)
class Keyword:
    """A keyword as written in the rules file, compiled for matching."""

    text: str
    compact: str
    word: re.Pattern[str] | None  # whole-word pattern for keywords without Hangul
    first: str = ""  # the pattern's first word, literally (see KeywordIndex)

    @classmethod
    def compile(cls, text: str, normaliser: Normaliser) -> Keyword:
        compact = normaliser.compact(text)
        if not compact:
            raise ValueError("a keyword must not be blank")
        if has_hangul(compact):
            return cls(text, compact, None)
        spaced = normaliser.spaced(text)
        words = r"\s*".join(re.escape(w) for w in spaced.split(" "))
        # A letter may not touch another letter, a digit another digit: "app" is not in
        # "happy", "1372" is not in "213725", but "kg" is in "55kg".
        before = _boundary(spaced[0], "(?<!{})")
        after = _boundary(spaced[-1], "(?!{})")
        ending = _LATIN_ENDINGS if spaced[-1].isalpha() else ""
        pattern = re.compile(before + words + ending + after)
        return cls(text, compact, pattern, spaced.split(" ")[0])

    def found_in(self, field: FieldText) -> bool:
        if self.word is not None:
            return self.word.search(field.spaced) is not None
        return self.compact in field.compact

    @property
    def key(self) -> str:
        """What the keyword looks for: equal keys are found in the same texts."""
        return self.compact if self.word is None else self.word.pattern


class KeywordIndex:
    """Which of many keywords occur in a field, found in one pass over them: a rule set tests
    each message against hundreds of keywords, rule after rule; with the keys found once per
    field, each rule's test is a set operation (`keyword.found_in(field)` is
    `keyword.key in index.found_in(field)` for every keyword of the index)."""

    def __init__(self, keywords: Iterable[Keyword]) -> None:
        keywords = list(keywords)
        self._literals = sorted({k.compact for k in keywords if k.word is None})
        words = {k.word.pattern: (k.first, k.word) for k in keywords if k.word is not None}
        self._words = [(key, first, word) for key, (first, word) in sorted(words.items())]

    def found_in(self, field: FieldText) -> frozenset[str]:
        compact, spaced = field.compact, field.spaced
        found = {k for k in self._literals if k in compact} if compact else set()
        if spaced:
            # `first in spaced` is a cheap necessary condition: the pattern starts with it.
            found.update(
                k for k, first, word in self._words if first in spaced and word.search(spaced)
            )
        return frozenset(found)
