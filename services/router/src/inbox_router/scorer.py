"""The routing model as the router serves it: numpy only.

scikit-learn and scipy cost a running router about 60 MB of memory for a model whose use is
a handful of sums, so training happens in a child process (inbox_router.trainer) and the
router keeps only what scoring needs (`RoutingModel.arrays()`): each text field's character
n-gram vocabulary and idf, the calibrated folds' linear coefficients and sigmoids. `predict`
repeats what the scikit-learn pipeline does (TfidfVectorizer with sublinear tf and l2 norm,
the weighted fields, LinearSVC scores, sigmoid calibration per class and fold, normalised and
averaged over folds); `test_model` checks both give the same probabilities.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from inbox_core.korean_text import DEFAULT_NORMALISER
from inbox_router.labelled import Example

_WHITE_SPACES: Final = re.compile(r"\s\s+")  # as scikit-learn's vectorizers


def char_wb_ngrams(text: str, n_max: int) -> list[str]:
    """n-grams (1..n_max) inside words padded with a space, as analyzer="char_wb"."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        w = f" {word} "
        size = len(w)
        for n in range(1, n_max + 1):
            if size <= n:  # a word shorter than n is counted once
                grams.append(w)
                break
            grams += [w[i : i + n] for i in range(size - n + 1)]
    return grams


def char_ngrams(text: str, n_max: int) -> list[str]:
    """n-grams (1..n_max) across the whole text, as analyzer="char"."""
    text = _WHITE_SPACES.sub(" ", text)
    grams = list(text)
    for n in range(2, min(n_max + 1, len(text) + 1)):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


_TF_COUNTS: Final = 64
_TF: Final = [0.0] + [1.0 + math.log(n) for n in range(1, _TF_COUNTS)]  # sublinear tf
_NO_VALUES: Final = np.zeros(0, dtype=np.float64)
_WORDS_KEPT: Final = 20_000  # words whose n-gram columns are kept per field (a few MB)


@dataclass
class _Field:
    """One TF-IDF field: term → column (offset into the whole feature row), idf, weight."""

    columns: dict[str, int]
    idf: np.ndarray
    weight: float
    offset: int = 0  # the field's first column in the whole row
    # word → the columns of its known n-grams (char_wb: a word's n-grams are its own)
    _words: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def _term_columns(self, text: str, analyzer: str, n_max: int) -> list[int]:
        """The columns of the text's known n-grams, in n-gram order."""
        columns = self.columns
        if analyzer != "char_wb":
            return [c for g in char_ngrams(text, n_max) if (c := columns.get(g)) is not None]
        words = self._words
        found: list[int] = []
        for word in _WHITE_SPACES.sub(" ", text).split():
            cols = words.get(word)
            if cols is None:
                if len(words) >= _WORDS_KEPT:
                    words.clear()
                grams = char_wb_ngrams(word, n_max)
                cols = words[word] = tuple(c for g in grams if (c := columns.get(g)) is not None)
            found += cols
        return found

    def features(self, text: str, analyzer: str, n_max: int) -> tuple[list[int], np.ndarray]:
        """The field's columns and weighted tf-idf values (float64), in the order of the terms'
        first occurrence (the order of the sums, so every replica scores alike)."""
        counts = Counter(self._term_columns(text.lower(), analyzer, n_max))
        if not counts:
            return [], _NO_VALUES
        cols = list(counts)
        tf = [_TF[n] if n < _TF_COUNTS else 1.0 + math.log(n) for n in counts.values()]
        values = np.array(tf, dtype=np.float32)
        values *= self.idf[np.subtract(cols, self.offset)]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0:
            values /= np.float32(norm)
        return cols, values.astype(np.float64) * self.weight


class Scorer:
    """A trained routing model without the libraries that trained it."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        meta: dict[str, Any] = json.loads(bytes(arrays["meta"]).decode())
        self.labels: list[str] = list(meta["labels"])
        self.trained_on = int(meta["trained_on"])
        params = meta["params"]
        self.analyzer = str(params["analyzer"])
        self.n_max = int(params["ngram_max"])
        body_terms, subject_terms = arrays["body_terms"], arrays["subject_terms"]
        self.body = _Field(
            {str(t): i for i, t in enumerate(body_terms)}, arrays["body_idf"], 1.0, offset=0
        )
        start = len(body_terms)
        self.subject = _Field(
            {str(t): start + i for i, t in enumerate(subject_terms)},
            arrays["subject_idf"],
            float(params["subject_weight"]),
            offset=start,
        )
        start += len(subject_terms)
        self.channels = {c: start + i for i, c in enumerate(meta["channels"])}
        self.channel_weight = float(params["channel_weight"])
        # features × (folds · classes), in float64 once rather than a message's rows each time
        self._coef = arrays["coef"].astype(np.float64)
        self._intercept = arrays["intercept"]  # folds × classes
        self._a, self._b = arrays["a"], arrays["b"]

    @classmethod
    def from_bytes(cls, data: bytes) -> Scorer:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls({name: npz[name] for name in npz.files})

    @staticmethod
    def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
        out = io.BytesIO()
        np.savez(out, **arrays)  # type: ignore[arg-type]
        return out.getvalue()

    def _row(self, e: Example) -> tuple[list[int], np.ndarray]:
        cols, values = self.body.features(
            DEFAULT_NORMALISER.spaced(e.text or ""), self.analyzer, self.n_max
        )
        more_cols, more_values = self.subject.features(
            DEFAULT_NORMALISER.spaced(e.subject or ""), self.analyzer, self.n_max
        )
        parts = [values, more_values]
        cols = cols + more_cols
        if e.channel in self.channels:
            cols.append(self.channels[e.channel])
            parts.append(np.array([self.channel_weight]))
        return cols, np.concatenate(parts)

    def probabilities(self, e: Example) -> np.ndarray:
        cols, values = self._row(e)
        folds, classes = self._intercept.shape
        scores = values @ self._coef[np.asarray(cols, dtype=np.intp)]
        scores = scores.reshape(folds, classes) + self._intercept
        proba = 1.0 / (1.0 + np.exp(self._a * scores + self._b))  # expit(-(a·s + b))
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1 / classes), where=total != 0)
        # proba.mean(axis=0) without its Python wrapper: the same sum and division
        return np.true_divide(np.add.reduce(proba, axis=0), folds)

    def predict_many(self, examples: Sequence[Example]) -> list[list[tuple[str, float]]]:
        return [
            sorted(
                zip(self.labels, map(float, self.probabilities(e)), strict=True),
                key=lambda p: -p[1],
            )
            for e in examples
        ]

    def predict(
        self, text: str, subject: str | None = None, channel: str = "mail"
    ) -> list[tuple[str, float]]:
        return self.predict_many([Example(text=text, label="", subject=subject, channel=channel)])[
            0
        ]
