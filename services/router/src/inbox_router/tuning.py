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

`--unbiased` scores only the messages of the training files the rules' keywords were not
written from (`FRESH_FILES`: every training file but `labelled_messages.yaml`); the folds
still train on every training file. In this mode no held-out file is read at all, not even
to drop training texts that are also held out (four greetings of the first file, which is
never scored here). `--scan` then varies the thresholds and the topic rules' `model:` default
on the same out-of-fold guesses, `--keywords` lists the keywords that decide wrongly on the
scored messages and what dropping each would change.

`--kiwi` also scores kiwipiepy morphemes as extra features (needs `pip install kiwipiepy`;
it is not a dependency of the router).
"""

from __future__ import annotations

import argparse
import copy
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Final

import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold

from inbox_core.schema import CATEGORIES
from inbox_router.labelled import TRAINING_FILES, load_examples
from inbox_router.learning import as_message
from inbox_router.model import Evaluation, Example, Featurizer, ModelParams, RoutingModel
from inbox_router.model import training_examples as shipped_training
from inbox_router.rules import RuleSet, load_rules, parse_rules
from inbox_router.settings import DEFAULT_RULES

FeaturizerFactory = Callable[[ModelParams], Featurizer]

# The training files written fresh, after the rules' keywords (README, "Labelled data"; the
# keywords come from labelled_messages.yaml and its old kept-out parts, git log of
# default_rules.yaml): scoring the rules on these does not flatter them.
FRESH_FILES: Final = tuple(p for p in TRAINING_FILES if p.name != "labelled_messages.yaml")


def training_without_heldout() -> tuple[list[Example], list[bool]]:
    """Every training file as shipped, read without opening any held-out file, and for each
    example whether it comes from a fresh file (scored in the unbiased mode)."""
    examples: list[Example] = []
    fresh: list[bool] = []
    for path in TRAINING_FILES:
        loaded = load_examples(path)
        examples.extend(loaded)
        fresh.extend([path in FRESH_FILES] * len(loaded))
    return examples, fresh


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
    seed: int = 0,
) -> Score:
    """Out-of-fold predictions of every example: each fold is predicted by a model trained on
    the other folds (stratified by category, shuffled with a fixed seed)."""
    labels = [e.label for e in examples]
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
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
    print_score(score, "out of fold")
    return score


def print_score(score: Score, scored: str) -> None:
    """Accuracy of rules + model and of the model alone, per category and as tables."""
    print(f"rules + model: {score.combined.accuracy:.1%} ({score.combined.correct})")
    print(f"model alone:   {score.model.accuracy:.1%} ({score.model.correct})\n")
    print(per_category(score))
    print(f"\nrules + model, {scored}:")
    print(score.combined.table(list(CATEGORIES)))
    print(f"\nmodel alone, {scored}:")
    print(score.model.table(list(CATEGORIES)))


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


def restrict(
    examples: Sequence[Example], score: Score, rules: RuleSet, keep: Sequence[bool]
) -> tuple[list[Example], Score]:
    """The out-of-fold guesses of the examples marked `keep` only, scored again."""
    at = [i for i, k in enumerate(keep) if k]
    kept = [examples[i] for i in at]
    guesses = [score.guesses[i] for i in at]
    pairs = [(e.label, g[0][0]) for e, g in zip(kept, guesses, strict=True)]
    return kept, Score(Evaluation(pairs), combined(rules, kept, guesses), guesses)


@dataclass(frozen=True)
class Balance:
    """How much say the model has over keyword rules: the `model:` thresholds and what a topic
    rule without `model:` and without channel/account/customer/hours conditions allows."""

    decide_at: float
    override_at: float
    keep_at: float
    general_at: float
    topic: str = "override"  # or "fallback": the model decides from decide_at

    def category(self, rule: tuple[str | None, str], guesses: Guesses) -> str:
        """What `RuleSet._consult` + `_combine` give, from the rules' own category (first
        category rule that matched and what it allows the model)."""
        rule_category, may = rule
        if may == "override" and self.topic == "fallback":
            may = "fallback"
        if may == "keep":
            return rule_category or "general"
        top, p = guesses[0]
        if rule_category is None or may == "fallback":
            if p >= self.decide_at and top != rule_category:
                return top
            return rule_category or "general"
        rule_p = dict(guesses).get(rule_category, 0.0)
        sure = self.general_at if top == "general" else self.override_at
        if top != rule_category and p >= sure and rule_p < self.keep_at:
            return top
        return rule_category


def rule_verdicts(rules: RuleSet, examples: Sequence[Example]) -> list[tuple[str | None, str]]:
    """For each example, the first matching rule's category and what it allows the model."""
    verdicts: list[tuple[str | None, str]] = []
    for i, e in enumerate(examples):
        decision = rules.decide(as_message(e, i))
        names = [r.split(":", 1)[0].removeprefix("rule ") for r in decision.reasons]
        rule = next(
            (r for r in rules.rules if r.name in names and r.set.category is not None), None
        )
        verdicts.append((rule.set.category, rule.model_may()) if rule else (None, "override"))
    return verdicts


def scan_balance(
    examples: Sequence[Example], runs: Sequence[Score], rules: RuleSet, top: int = 25
) -> list[tuple[Evaluation, Balance]]:
    """Every balance of the grid on the same out-of-fold guesses (one run per fold seed,
    pooled: the accuracy is the mean over the runs), best first; ties: the smaller change
    from the rules file's thresholds first."""
    verdicts = rule_verdicts(rules, examples)
    now = rules.model
    current = Balance(now.decide_at, now.override_at, now.keep_at, now.general_at)
    for score in runs:
        check = combined(rules, examples, score.guesses)
        mine = [current.category(v, g) for v, g in zip(verdicts, score.guesses, strict=True)]
        assert [got for _, got in check.pairs] == mine, "Balance.category differs from decide"
    grid = [
        Balance(d, o, k, g)
        for d, o, k, g in itertools.product(
            (0.3, 0.35, 0.4, 0.45, 0.5),
            (0.4, 0.5, 0.6, 0.7, 0.8),
            (0.2, 0.3, 0.4, 0.5, 1.0),
            (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        )
    ] + [
        Balance(d, now.override_at, now.keep_at, now.general_at, "fallback")
        for d in (0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
    ]

    def distance(b: Balance) -> float:
        return (
            abs(b.decide_at - current.decide_at)
            + abs(b.override_at - current.override_at)
            + abs(b.keep_at - current.keep_at)
            + abs(b.general_at - current.general_at)
            + (1 if b.topic != current.topic else 0)
        )

    results = []
    for b in grid:
        pairs = [
            (e.label, b.category(v, g))
            for score in runs
            for e, v, g in zip(examples, verdicts, score.guesses, strict=True)
        ]
        results.append((Evaluation(pairs), b))
    n = len(examples)
    results.sort(key=lambda r: (-r[0].correct, distance(r[1])))
    labels = list(CATEGORIES)
    print(f"\nmean of {len(runs)} fold seed(s), scored messages only")
    print(f"{'all':>6} " + " ".join(f"{c[:7]:>7}" for c in labels) + "  right per seed, balance")
    shown = [r for r in results if r[1] == current] + results[:top]
    shown += [r for r in results if r[1].topic == "fallback"]
    for result, b in shown:
        recall = result.recall()
        cells = " ".join(f"{recall.get(c, 0.0):7.1%}" for c in labels)
        mark = " (rules file)" if b == current else ""
        per_seed = [
            sum(1 for x, y in result.pairs[k * n : (k + 1) * n] if x == y) for k in range(len(runs))
        ]
        print(f"{result.accuracy:6.1%} {cells}  {per_seed} {b}{mark}", flush=True)
    return results


def keyword_harm(examples: Sequence[Example], score: Score, rules: RuleSet, path: Path) -> None:
    """Keywords that decide a scored message's category (rules alone) wrongly more often than
    rightly, and what rules + model would route right without each (on the same guesses)."""
    tally: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(examples):
        decision = rules.decide(as_message(e, i))
        for reason in decision.reasons:
            name, _, why = reason.removeprefix("rule ").partition(": ")
            rule = next((r for r in rules.rules if r.name == name), None)
            if rule is None or rule.set.category is None or "keyword '" not in why:
                continue
            keyword = why.split("keyword '", 1)[1].split("'", 1)[0]
            tally.setdefault((name, keyword), [0, 0])[0 if e.label == rule.set.category else 1] += 1
    base = combined(rules, examples, score.guesses).correct
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    print(f"\nrules + model: {base} right; keywords deciding wrongly at least as often as rightly")
    print(f"{'rule':28}{'keyword':16}{'right':>6}{'wrong':>6}  rules+model without it")
    for (name, keyword), (right, wrong) in sorted(tally.items(), key=lambda t: -t[1][1]):
        if wrong < max(right, 1):
            continue
        data = copy.deepcopy(raw)
        for rule in data["rules"]:
            words = rule["when"].get("keywords", {}).get("any", [])
            if rule["name"] == name and keyword in words:
                words.remove(keyword)
        without = combined(parse_rules(data), examples, score.guesses).correct
        print(f"{name:28}{keyword:16}{right:>6}{wrong:>6}  {without} ({without - base:+d})")


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


def unbiased(
    path: Path, folds: int, scan: bool, keywords: bool, errors: str | None, seeds: list[int]
) -> None:
    """Folds train on every training file; only the fresh files' messages are scored."""
    examples, fresh = training_without_heldout()
    rules = load_rules(path)
    base = ModelParams()
    seed = seeds[0]
    score = cross_validate(examples, base, rules, folds, seed=seed)
    scored, part = restrict(examples, score, rules, fresh)
    names = ", ".join(p.name for p in FRESH_FILES)
    print(
        f"{len(examples)} training examples, {folds}-fold stratified CV (seed {seed}), "
        f"{path.name}; "
        f"scored: the {len(scored)} of {names}\n{base}\n"
    )
    print_score(part, "out of fold, fresh files only")
    if errors:
        show_errors(scored, part, rules, errors)
    if scan:
        runs = [part]
        for other in seeds[1:]:
            again = cross_validate(examples, base, rules, folds, seed=other)
            runs.append(restrict(examples, again, rules, fresh)[1])
        scan_balance(scored, runs, rules)
    if keywords:
        keyword_harm(scored, part, rules, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="score the hyper-parameter grid")
    parser.add_argument("--thresholds", action="store_true", help="scan the model: thresholds")
    parser.add_argument("--errors", metavar="CATEGORY", help="list the errors in and into it")
    parser.add_argument(
        "--unbiased",
        action="store_true",
        help="score only the files the rules were not written from",
    )
    parser.add_argument("--scan", action="store_true", help="with --unbiased: scan the balance")
    parser.add_argument(
        "--keywords", action="store_true", help="with --unbiased: keywords that misroute"
    )
    parser.add_argument("--kiwi", action="store_true", help="also score kiwipiepy morphemes")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="the rules file")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(s) for s in text.split(",")],
        default=[0],
        help="the folds' shuffles (--unbiased; --scan pools them), e.g. 0,1,2",
    )
    args = parser.parse_args()
    if args.unbiased:
        unbiased(args.rules, args.folds, args.scan, args.keywords, args.errors, args.seeds)
        return
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
