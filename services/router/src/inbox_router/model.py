"""The routing classifier: a linear model over character n-grams of the shared Korean
normalisation, beside the rules.

Features: character 1–4-grams (within words) of the spaced normalised body, the same of the
subject weighted separately, and the channel. Character n-grams need no tokenizer and survive
typos, missing spaces and mixed Korean/English. Classifier: a linear SVM whose scores are
calibrated into probabilities (sigmoid, cross-validated), so "restock 0.71" means roughly
that. Training is deterministic and takes a second or two on the shipped set, so the router
trains at start from the files shipped in `data/` (plus accepted corrections), and nothing is
downloaded or unpickled at run time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from inbox_core.korean_text import DEFAULT_NORMALISER

DATA_DIR: Final = Path(__file__).with_name("data")
TRAINING_FILES: Final = (DATA_DIR / "labelled_messages.yaml", DATA_DIR / "labelled_fresh.yaml")
HELDOUT_FILE: Final = DATA_DIR / "heldout_messages.yaml"


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    subject: str | None = None
    channel: str = "mail"
    product: str | None = None
    weight: float = 1.0
    priority: str | None = None


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters, chosen by cross-validation on the training files only."""

    c: float = 3.0  # inverse regularisation of the linear SVM
    subject_weight: float = 0.6  # the subject's features relative to the body's
    channel_weight: float = 0.5
    ngram_max: int = 3
    correction_weight: float = 3.0  # an agent's correction counts this many shipped examples


def load_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Example(
            text=str(case["text"]),
            label=str(case["label"]),
            subject=case.get("subject"),
            channel=str(case.get("channel", "mail")),
            product=case.get("product"),
            priority=case.get("priority"),
        )
        for case in data["messages"]
    ]


def heldout_examples() -> list[Example]:
    return load_examples(HELDOUT_FILE)


def training_examples() -> list[Example]:
    """The shipped training files, without any text that is also in the held-out file."""
    held = {e.text for e in heldout_examples()}
    return [e for path in TRAINING_FILES for e in load_examples(path) if e.text not in held]


def _normalised(text: str | None) -> str:
    return DEFAULT_NORMALISER.spaced(text or "")


@dataclass
class Featurizer:
    params: ModelParams
    body: TfidfVectorizer = field(init=False)
    subject: TfidfVectorizer = field(init=False)
    channels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        def vectorizer() -> TfidfVectorizer:
            return TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(1, self.params.ngram_max),
                sublinear_tf=True,
                min_df=1,
                dtype=np.float32,
            )

        self.body, self.subject = vectorizer(), vectorizer()

    def fit(self, examples: Sequence[Example]) -> Featurizer:
        self.body.fit([_normalised(e.text) for e in examples])
        self.subject.fit([_normalised(e.subject) or "-" for e in examples])
        self.channels = sorted({e.channel for e in examples})
        return self

    @staticmethod
    def _one_hot(values: list[str | None], names: list[str]) -> csr_matrix:
        index = {c: i for i, c in enumerate(names)}
        rows = [i for i, v in enumerate(values) if v in index]
        cols = [index[values[i]] for i in rows]  # type: ignore[index]
        return csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(values), max(len(names), 1)),
        )

    def transform(self, examples: Sequence[Example]) -> csr_matrix:
        body = self.body.transform([_normalised(e.text) for e in examples])
        subject = self.subject.transform([_normalised(e.subject) for e in examples])
        channel = self._one_hot([e.channel for e in examples], self.channels)
        parts = [body, subject * self.params.subject_weight, channel * self.params.channel_weight]
        return hstack(parts, format="csr")


class RoutingModel:
    """A trained classifier: `predict` gives (category, probability) pairs, best first."""

    def __init__(
        self, featurizer: Featurizer, classifier: CalibratedClassifierCV, trained_on: int
    ) -> None:
        self.featurizer = featurizer
        self.classifier = classifier
        self.labels: list[str] = [str(c) for c in classifier.classes_]
        self.trained_on = trained_on
        self._unpack()

    def _unpack(self) -> None:
        """The calibrated folds as arrays: scikit-learn's predict_proba walks one sigmoid per
        class and fold in Python (tens of ms per message); the same sums in numpy take well
        under one. `test_model` checks both give the same probabilities."""
        folds = self.classifier.calibrated_classifiers_
        for fold in folds:
            if list(fold.estimator.classes_) != list(self.classifier.classes_):
                raise ValueError("a calibration fold lacks a class")
        self._coef = np.stack([f.estimator.coef_ for f in folds])  # folds × classes × features
        self._intercept = np.stack([f.estimator.intercept_ for f in folds])
        self._a = np.array([[c.a_ for c in f.calibrators] for f in folds])
        self._b = np.array([[c.b_ for c in f.calibrators] for f in folds])

    def probabilities(self, x: csr_matrix) -> np.ndarray:
        """Like CalibratedClassifierCV.predict_proba (sigmoid, one-vs-rest, normalised, averaged
        over folds), computed with array operations."""
        scores = np.stack([x @ coef.T for coef in self._coef]) + self._intercept[:, None, :]
        proba = expit(-(self._a[:, None, :] * scores + self._b[:, None, :]))
        total = proba.sum(axis=2, keepdims=True)
        uniform = np.full_like(proba, 1 / proba.shape[2])
        proba = np.divide(proba, total, out=uniform, where=total != 0)
        return np.asarray(proba.mean(axis=0))

    @classmethod
    def train(cls, examples: Sequence[Example], params: ModelParams | None = None) -> RoutingModel:
        params = params or ModelParams()
        featurizer = Featurizer(params).fit(examples)
        x = featurizer.transform(examples)
        y = [e.label for e in examples]
        weights = np.array([e.weight for e in examples], dtype=np.float64)
        folds = min(5, min(Counter(y).values()))
        classifier = CalibratedClassifierCV(
            LinearSVC(C=params.c, class_weight="balanced", random_state=0),
            method="sigmoid",
            cv=folds,
        )
        classifier.fit(x, y, sample_weight=weights)
        return cls(featurizer, classifier, len(examples))

    def predict_many(self, examples: Sequence[Example]) -> list[list[tuple[str, float]]]:
        probabilities = self.probabilities(self.featurizer.transform(examples))
        return [
            sorted(zip(self.labels, map(float, row), strict=True), key=lambda p: -p[1])
            for row in probabilities
        ]

    def predict(
        self, text: str, subject: str | None = None, channel: str = "mail"
    ) -> list[tuple[str, float]]:
        return self.predict_many([Example(text=text, label="", subject=subject, channel=channel)])[
            0
        ]


def describe(guesses: Iterable[tuple[str, float]], top: int = 2) -> str:
    """'restock 0.71, product 0.18'"""
    return ", ".join(f"{label} {p:.2f}" for label, p in list(guesses)[:top])


@dataclass
class Evaluation:
    pairs: list[tuple[str, str]]  # (expected, got)

    @property
    def correct(self) -> int:
        return sum(1 for expected, got in self.pairs if expected == got)

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.pairs) if self.pairs else 0.0

    def recall(self) -> dict[str, float]:
        totals = Counter(expected for expected, _ in self.pairs)
        hits = Counter(expected for expected, got in self.pairs if expected == got)
        return {label: hits[label] / n for label, n in sorted(totals.items())}

    def table(self, labels: Sequence[str]) -> str:
        """The confusion table, expected in rows, got in columns, with recall."""
        counts = Counter(self.pairs)
        short = {label: label[:8] for label in labels}
        lines = [
            "expected \\ got".ljust(24) + "".join(f"{short[g]:>9}" for g in labels) + "  recall"
        ]
        for expected in labels:
            row = [counts[(expected, got)] for got in labels]
            total = sum(row)
            recall = counts[(expected, expected)] / total if total else 0.0
            lines.append(expected.ljust(24) + "".join(f"{n:>9}" for n in row) + f"  {recall:6.1%}")
        return "\n".join(lines)


def summary(result: Evaluation) -> dict[str, Any]:
    return {
        "accuracy": round(result.accuracy, 4),
        "correct": result.correct,
        "total": len(result.pairs),
        "recall": {k: round(v, 4) for k, v in result.recall().items()},
    }
