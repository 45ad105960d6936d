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
from dataclasses import dataclass
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
        for n in range(1, n_max + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < len(w):
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


def char_ngrams(text: str, n_max: int) -> list[str]:
    """n-grams (1..n_max) across the whole text, as analyzer="char"."""
    text = _WHITE_SPACES.sub(" ", text)
    grams = list(text)
    for n in range(2, min(n_max + 1, len(text) + 1)):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


@dataclass
class _Field:
    """One TF-IDF field: term → column (offset into the whole feature row), idf, weight."""

    columns: dict[str, int]
    idf: np.ndarray
    weight: float
    offset: int = 0  # the field's first column in the whole row

    def features(self, text: str, analyzer: str, n_max: int) -> tuple[list[int], list[float]]:
        grams = (char_wb_ngrams if analyzer == "char_wb" else char_ngrams)(text.lower(), n_max)
        counts = Counter(g for g in grams if g in self.columns)
        if not counts:
            return [], []
        cols = [self.columns[g] for g in counts]
        values = np.array([1.0 + math.log(n) for n in counts.values()], dtype=np.float32)
        values *= self.idf[[c - self.offset for c in cols]]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0:
            values /= np.float32(norm)
        return cols, [float(v) * self.weight for v in values]


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
        self._coef = arrays["coef"]  # features × (folds · classes)
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

    def _row(self, e: Example) -> tuple[list[int], list[float]]:
        cols, values = self.body.features(
            DEFAULT_NORMALISER.spaced(e.text or ""), self.analyzer, self.n_max
        )
        more = self.subject.features(
            DEFAULT_NORMALISER.spaced(e.subject or ""), self.analyzer, self.n_max
        )
        cols, values = cols + more[0], values + more[1]
        if e.channel in self.channels:
            cols.append(self.channels[e.channel])
            values.append(self.channel_weight)
        return cols, values

    def probabilities(self, e: Example) -> np.ndarray:
        cols, values = self._row(e)
        folds, classes = self._intercept.shape
        scores = np.asarray(values, dtype=np.float64) @ self._coef[cols].astype(np.float64)
        scores = scores.reshape(folds, classes) + self._intercept
        proba = 1.0 / (1.0 + np.exp(self._a * scores + self._b))  # expit(-(a·s + b))
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1 / classes), where=total != 0)
        return np.asarray(proba.mean(axis=0))

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
