"""Choosing the routing model's features and hyper-parameters by stratified cross-validation
on the training files only (`python -m inbox_router.tuning`).

Neither held-out file is read here: every candidate is scored on out-of-fold predictions of
`training_examples()` (which already leaves out any text that is also held out). Scores are
reported twice: the model alone (argmax) and the rules plus the model as the router combines
them (default rules; they were partly written from the first training file, so that column
flatters every candidate alike and is used for comparison only).

By default it prints, for the current parameters and rules file, the out-of-fold accuracy,
recall and precision per category and the confusion tables of both. `--thresholds` varies the
rules file's `model:` thresholds on the same out-of-fold guesses, `--grid` scores the
hyper-parameter grid, `--rules FILE` scores another rules file.

`--kiwi` also scores kiwipiepy morphemes as extra features (needs `pip install kiwipiepy`;
it is not a dependency of the router).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold

from inbox_core.schema import CATEGORIES
from inbox_router.learning import as_message
from inbox_router.model import Evaluation, Example, Featurizer, ModelParams, RoutingModel
from inbox_router.model import training_examples as shipped_training
from inbox_router.rules import RuleSet, load_rules
from inbox_router.settings import DEFAULT_RULES

FeaturizerFactory = Callable[[ModelParams], Featurizer]


Guesses = list[tuple[str, float]]


@dataclass
class Score:
    model: Evaluation
    combined: Evaluation
    guesses: list[Guesses]  # out of fold, in the order of the examples


@dataclass
class Fixed:
    """A classifier that answers what the out-of-fold model said about one message, so the
    rules' thresholds can be varied without training again."""

    guesses: Guesses

    def predict(
        self, text: str, subject: str | None = None, channel: str = "mail"
    ) -> list[tuple[str, float]]:
        return self.guesses


def combined(rules: RuleSet, examples: Sequence[Example], guesses: Sequence[Guesses]) -> Evaluation:
    """Rules + model as the router combines them, from out-of-fold guesses."""
    return Evaluation(
        [
            (e.label, rules.decide(as_message(e, i), model=Fixed(g)).category)
            for i, (e, g) in enumerate(zip(examples, guesses, strict=True))
        ]
    )


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
    guesses: list[Guesses] = [[] for _ in examples]
    for train_at, test_at in split.split(np.zeros(len(labels)), labels):
        model = RoutingModel.train(
            [examples[i] for i in train_at], params, featurizer=featurizer(params)
        )
        for i, g in zip(test_at, model.predict_many([examples[i] for i in test_at]), strict=True):
            guesses[i] = g
    model_pairs = [(e.label, g[0][0]) for e, g in zip(examples, guesses, strict=True)]
    return Score(Evaluation(model_pairs), combined(rules, examples, guesses), guesses)


def per_category(score: Score) -> str:
    """Recall and precision per category, rules + model beside the model alone."""
    lines = [
        f"{'category':24}{'rules+model':>24}{'model alone':>24}",
        " " * 24 + f"{'recall':>12}{'precision':>12}" * 2,
    ]
    both = (score.combined, score.model)
    recalls = [e.recall() for e in both]
    precisions = [e.precision() for e in both]
    for label in CATEGORIES:
        cells = "".join(
            f"{r.get(label, 0.0):>12.1%}{p.get(label, 0.0):>12.1%}"
            for r, p in zip(recalls, precisions, strict=True)
        )
        lines.append(f"{label:24}{cells}")
    return "\n".join(lines)


def report(examples: Sequence[Example], params: ModelParams, rules: RuleSet, folds: int) -> Score:
    score = cross_validate(examples, params, rules, folds)
    print(f"{params}\n")
    print(f"rules + model: {score.combined.accuracy:.1%} ({score.combined.correct})")
    print(f"model alone:   {score.model.accuracy:.1%} ({score.model.correct})\n")
    print(per_category(score))
    print("\nrules + model, out of fold:")
    print(score.combined.table(list(CATEGORIES)))
    print("\nmodel alone, out of fold:")
    print(score.model.table(list(CATEGORIES)))
    return score


def show_errors(examples: Sequence[Example], score: Score, rules: RuleSet, category: str) -> None:
    """The training messages of `category` that rules + model route elsewhere (out of fold),
    or that land in `category` without belonging there, with the reasons of the decision."""
    print(f"\nout-of-fold errors in and into {category}:")
    for i, (e, g) in enumerate(zip(examples, score.guesses, strict=True)):
        decision = rules.decide(as_message(e, i), model=Fixed(g))
        if (category in (e.label, decision.category)) and e.label != decision.category:
            why = " | ".join(r for r in decision.reasons if r.startswith(("rule", "model")))
            print(f"{e.label[:8]:>8} → {decision.category[:8]:8} [{e.channel}] {e.text[:70]}")
            print(f"{'':20}{why[:160]}")


def scan_thresholds(examples: Sequence[Example], score: Score, rules: RuleSet) -> None:
    """The rules file's `model:` thresholds, on the same out-of-fold guesses."""
    labels = [c for c in CATEGORIES if c != "general"]
    print("\ncombined general " + " ".join(f"{c[:7]:>7}" for c in labels))
    print("                  (recall)" + " " * 50 + "decide override keep general_at")
    for decide, override, keep, general in itertools.product(
        (0.35, 0.4, 0.45, 0.5), (0.6, 0.7), (0.2, 0.3), (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    ):
        use = rules.model.model_copy(
            update={
                "decide_at": decide,
                "override_at": override,
                "keep_at": keep,
                "general_at": general,
            }
        )
        result = combined(rules.model_copy(update={"model": use}), examples, score.guesses)
        recall = result.recall()
        others = " ".join(f"{recall[c]:7.1%}" for c in labels)
        print(
            f"{result.accuracy:8.1%} {recall['general']:7.1%} {others}"
            f"  {decide:6} {override:8} {keep:4} {general:6}",
            flush=True,
        )


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
    parser.add_argument("--grid", action="store_true", help="score the hyper-parameter grid")
    parser.add_argument("--thresholds", action="store_true", help="scan the model: thresholds")
    parser.add_argument("--errors", metavar="CATEGORY", help="list the errors in and into it")
    parser.add_argument("--kiwi", action="store_true", help="also score kiwipiepy morphemes")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="the rules file")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    examples = shipped_training()
    rules = load_rules(args.rules)
    base = ModelParams()
    print(f"{len(examples)} training examples, {args.folds}-fold stratified CV, {args.rules.name}")
    score = report(examples, base, rules, args.folds)
    if args.errors:
        show_errors(examples, score, rules, args.errors)
    if args.thresholds:
        scan_thresholds(examples, score, rules)
    if args.grid:
        grid = [
            replace(base, c=c, ngram_max=n, subject_weight=s, analyzer=a)
            for c, n, s, a in itertools.product(
                (0.3, 1.0, 3.0), (3, 4), (0.6, 1.0), ("char_wb", "char")
            )
        ]
        print("\nmodel  combined  general (combined)  params")
        for params in grid:
            score = cross_validate(examples, params, rules, args.folds)
            print(
                f"{score.model.accuracy:6.1%} {score.combined.accuracy:8.1%} "
                f"{score.combined.recall()['general']:8.1%}  {params}",
                flush=True,
            )
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
