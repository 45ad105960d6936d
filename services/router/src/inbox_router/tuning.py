"""Choosing the routing model's features and hyper-parameters by stratified cross-validation
on the training files only (`python -m inbox_router.tuning`).

Neither held-out file is read here: every candidate is scored on out-of-fold predictions of
`training_examples()` (which already leaves out any text that is also held out). Scores are
reported twice: the model alone (argmax) and the rules plus the model as the router combines
them (default rules; they were partly written from the first training file, so that column
flatters every candidate alike and is used for comparison only).

`--kiwi` also scores kiwipiepy morphemes as extra features (needs `pip install kiwipiepy`;
it is not a dependency of the router).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold

from inbox_router.learning import evaluate
from inbox_router.model import Evaluation, Example, Featurizer, ModelParams, RoutingModel
from inbox_router.model import training_examples as shipped_training
from inbox_router.rules import RuleSet, load_rules
from inbox_router.settings import DEFAULT_RULES

FeaturizerFactory = Callable[[ModelParams], Featurizer]


@dataclass
class Score:
    model: Evaluation
    combined: Evaluation


def cross_validate(
    examples: Sequence[Example],
    params: ModelParams,
    rules: RuleSet,
    folds: int = 5,
    featurizer: FeaturizerFactory = Featurizer,
) -> Score:
    """Out-of-fold predictions of every example: each fold is predicted by a model trained on
    the other folds (stratified by category, shuffled with a fixed seed)."""
    labels = [e.label for e in examples]
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    model_pairs: list[tuple[str, str]] = []
    combined_pairs: list[tuple[str, str]] = []
    for train_at, test_at in split.split(np.zeros(len(labels)), labels):
        model = RoutingModel.train(
            [examples[i] for i in train_at], params, featurizer=featurizer(params)
        )
        tested = [examples[i] for i in test_at]
        for e, guesses in zip(tested, model.predict_many(tested), strict=True):
            model_pairs.append((e.label, guesses[0][0]))
        combined_pairs.extend(evaluate(rules, model, tested).pairs)
    return Score(Evaluation(model_pairs), Evaluation(combined_pairs))


class MorphemeFeaturizer(Featurizer):
    """Character n-grams plus kiwipiepy morphemes (form/tag) of subject and body."""

    weight = 0.5
    _cache: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        from kiwipiepy import Kiwi  # evaluated only; not a dependency of the router

        self._kiwi = Kiwi()
        self.morphemes = TfidfVectorizer(
            analyzer=str.split, sublinear_tf=True, dtype=np.float32, token_pattern=None
        )

    def _tokens(self, e: Example) -> str:
        text = f"{e.subject or ''}\n{e.text}"
        if text not in self._cache:
            self._cache[text] = " ".join(
                f"{t.form}/{t.tag}" for t in self._kiwi.tokenize(text.lower())
            )
        return self._cache[text]

    def fit(self, examples: Sequence[Example]) -> MorphemeFeaturizer:
        super().fit(examples)
        self.morphemes.fit([self._tokens(e) for e in examples])
        return self

    def transform(self, examples: Sequence[Example]) -> csr_matrix:
        extra = self.morphemes.transform([self._tokens(e) for e in examples]) * self.weight
        return hstack([super().transform(examples), extra], format="csr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiwi", action="store_true", help="also score kiwipiepy morphemes")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    examples = shipped_training()
    rules = load_rules(DEFAULT_RULES)
    base = ModelParams()
    grid = [
        replace(base, c=c, ngram_max=n, subject_weight=s, analyzer=a)
        for c, n, s, a in itertools.product(
            (0.3, 1.0, 3.0), (3, 4), (0.6, 1.0), ("char_wb", "char")
        )
    ]
    print(f"{len(examples)} training examples, {args.folds}-fold stratified CV")
    print("model  combined  params")
    for params in grid:
        score = cross_validate(examples, params, rules, args.folds)
        print(f"{score.model.accuracy:6.1%} {score.combined.accuracy:8.1%}  {params}", flush=True)
    if args.kiwi:
        for weight in (0.3, 0.6, 1.0):
            MorphemeFeaturizer.weight = weight
            score = cross_validate(examples, base, rules, args.folds, MorphemeFeaturizer)
            print(
                f"{score.model.accuracy:6.1%} {score.combined.accuracy:8.1%}  "
                f"{base} + kiwi morphemes x{weight}",
                flush=True,
            )


if __name__ == "__main__":
    main()
