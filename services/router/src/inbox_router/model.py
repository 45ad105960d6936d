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

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from inbox_core.korean_text import DEFAULT_NORMALISER
from inbox_router.labelled import (  # re-exported: the training side uses them together
    DATA_DIR,
    HELDOUT_FILE,
    SECOND_HELDOUT_FILE,
    TRAINING_FILES,
    Evaluation,
    Example,
    describe,
    heldout_examples,
    load_examples,
    summary,
    training_examples,
)

__all__ = [
    "DATA_DIR",
    "HELDOUT_FILE",
    "SECOND_HELDOUT_FILE",
    "TRAINING_FILES",
    "Evaluation",
    "Example",
    "Featurizer",
    "ModelParams",
    "RoutingModel",
    "describe",
    "heldout_examples",
    "load_examples",
    "summary",
    "training_examples",
]


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters, chosen by cross-validation on the training files only."""

    c: float = 3.0  # inverse regularisation of the linear SVM
    subject_weight: float = 1.0  # the subject's features relative to the body's
    channel_weight: float = 0.5
    ngram_max: int = 3
    analyzer: str = "char_wb"  # char_wb: n-grams within words; char: across spaces too
    correction_weight: float = 3.0  # an agent's correction counts this many shipped examples


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
                analyzer=self.params.analyzer,
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
    def train(
        cls,
        examples: Sequence[Example],
        params: ModelParams | None = None,
        featurizer: Featurizer | None = None,
    ) -> RoutingModel:
        params = params or ModelParams()
        featurizer = (featurizer or Featurizer(params)).fit(examples)
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

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything the numpy-only scorer (inbox_router.scorer) needs, as plain arrays (saved
        with np.savez, loaded without pickle): each text field's vocabulary in column order
        and idf, the folds' coefficients (features × folds·classes), intercepts and sigmoid
        calibrations, and the settings as JSON."""
        f = self.featurizer

        def vocabulary(v: TfidfVectorizer) -> np.ndarray:
            terms = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
            return np.array(terms, dtype=str)

        meta = {
            "labels": self.labels,
            "channels": f.channels,
            "params": asdict(f.params),
            "trained_on": self.trained_on,
        }
        folds, classes, features = self._coef.shape
        return {
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "body_terms": vocabulary(f.body),
            "body_idf": f.body.idf_.astype(np.float32),
            "subject_terms": vocabulary(f.subject),
            "subject_idf": f.subject.idf_.astype(np.float32),
            "coef": np.ascontiguousarray(
                self._coef.transpose(2, 0, 1).reshape(features, folds * classes),
                dtype=np.float32,
            ),
            "intercept": self._intercept.astype(np.float64),
            "a": self._a.astype(np.float64),
            "b": self._b.astype(np.float64),
        }
