"""Re-export of `inbox_core.korean_text`: the normalisation is shared with the FAQ matcher."""

from inbox_core.korean_text import (
    DEFAULT_NORMALISER,
    DEFAULT_VARIANTS,
    FieldText,
    Keyword,
    KeywordIndex,
    Normaliser,
    has_hangul,
    normalise_phone,
    normalise_text,
)

__all__ = [
    "DEFAULT_NORMALISER",
    "DEFAULT_VARIANTS",
    "FieldText",
    "Keyword",
    "KeywordIndex",
    "Normaliser",
    "has_hangul",
    "normalise_phone",
    "normalise_text",
]
