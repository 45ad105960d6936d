"""Candidates for new FAQ entries: questions customers keep asking that no entry covers.

Input: each recent conversation's first customer message and the agents' first answer.
Questions an entry already covers (best score ≥ COVERED), asks for a person, or too short
to mean anything ("감사합니다", "?") are left out. The rest are linked when their character
n-gram TF-IDF similarity reaches LINK (the matcher's folding and vectors), and each connected
group is a cluster. Clusters are ranked by how many conversations they hold; each shows its
most typical question (highest mean similarity to the others), three examples, and the
answer agents gave most often (compared after folding, shown as first written).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from inbox_core.faq import FaqSnapshot
from inbox_core.faq_matcher import TfidfIndex, fold, wants_person

COVERED: Final = 0.60  # a best entry score from here on: an entry answers it already
LINK: Final = 0.20  # two questions this similar ask the same thing
MIN_CHARS: Final = 5  # folded characters; shorter is a greeting or a reaction
MIN_COUNT: Final = 3


@dataclass(frozen=True)
class Asked:
    conversation_id: str
    question: str
    answer: str | None  # the agents' first answer in that conversation
    at: datetime | None = None


@dataclass(frozen=True)
class Candidate:
    count: int
    question: str
    examples: list[str]
    conversation_ids: list[str]
    answer: str | None
    last_at: datetime | None


def uncovered(snapshot: FaqSnapshot, asked: Sequence[Asked]) -> list[Asked]:
    keep = []
    for a in asked:
        if len(fold(a.question)) < MIN_CHARS or wants_person(a.question):
            continue
        result = snapshot.match(a.question)
        if result.matches and result.matches[0].score >= COVERED:
            continue
        keep.append(a)
    return keep


def candidates(
    snapshot: FaqSnapshot, asked: Sequence[Asked], *, min_count: int = MIN_COUNT, limit: int = 20
) -> list[Candidate]:
    rest = uncovered(snapshot, asked)
    if not rest:
        return []
    # The entries' texts count in the document frequencies, so the words every shop question
    # shares ("배송", "가능한가요") weigh little and the new topic ("부대") weighs much, even
    # when many of the questions ask it.
    background = [
        (f"faq:{e.id}", text)
        for e in snapshot.entries.values()
        for text in [e.question, *e.examples]
    ]
    index = TfidfIndex([*((str(i), a.question) for i, a in enumerate(rest)), *background])
    sims: list[dict[int, float]] = [
        {int(s.key): s.score for s in index.best_by_label(a.question) if s.key.isdigit()}
        for a in rest
    ]
    parent = list(range(len(rest)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, row in enumerate(sims):
        for j, score in row.items():
            if j != i and score >= LINK:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(rest)):
        groups.setdefault(root(i), []).append(i)
    found = []
    for members in groups.values():
        if len(members) < min_count:
            continue

        def centrality(i: int, members: list[int] = members) -> float:
            return sum(sims[i].get(j, 0.0) for j in members if j != i) / (len(members) - 1)

        ranked = sorted(members, key=lambda i: (-centrality(i), i))
        answers = [a for i in members if (a := rest[i].answer)]
        common = Counter(fold(a) for a in answers).most_common(1)
        answer = next((a for a in answers if fold(a) == common[0][0]), None) if common else None
        times = [t for i in members if (t := rest[i].at) is not None]
        found.append(
            Candidate(
                count=len(members),
                question=rest[ranked[0]].question,
                examples=[rest[i].question for i in ranked[:3]],
                conversation_ids=[rest[i].conversation_id for i in ranked],
                answer=answer,
                last_at=max(times) if times else None,
            )
        )
    found.sort(key=lambda c: (-c.count, c.question))
    return found[:limit]
