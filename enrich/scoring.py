"""Whether an article reports a story's event: a handful of features and a learned decision (pure).

The features of an article ``a`` against a story ``s`` (or of one story against another,
for a merge):

    semantic        cosine of a's embedding and s's centroid
    lexical         cosine of their term vectors (names, places, figures and other content
                    words; see ``enrich.features.terms``), each term weighted by ``idf``
    gap             days between a's own date and s's span [first, last] (0 inside it),
                    over ``window_days``: a date is compared with the story's own dates,
                    never with a clock of the stream
    other_language  1 when a's language is known and none of s's known languages
    other_language_lexical   other_language x lexical: across languages the English-only
                    default model says little, so names and figures must carry the decision
    figure_conflict 1 when s's headline figures ("iPhone 15") and a's ("iPhone 16") disagree

The decision is a logistic regression on these features (``Model``), trained on labelled
(article, story) pairs by ``python -m enrich.train`` and shipped as ``weights.json``
beside this module: the probability that ``a`` belongs to ``s``.

``idf`` is a background weight of a term that does not depend on which stories are
active (so a story's lexical evidence is the same whatever else is in memory, in any
arrival order): figures and words that do not look like common words weigh more. See
``term_idf``.

    ModelError   the weights file is missing or does not fit the features
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from enrich.features import is_figure

FEATURES = (
    "semantic",
    "lexical",
    "key_terms",
    "figures",
    "figures_disjoint",
    "gap",
    "other_language",
    "other_language_lexical",
)
KEY_TERMS = 4  # how many of the heaviest terms of each side are checked by ``key_terms``
WEIGHTS_FILE = Path(__file__).with_name("weights.json")


class ModelError(Exception):
    """The decision's weights cannot be loaded."""


@dataclass(frozen=True)
class Model:
    """``p = sigmoid(intercept + coef . features)``, the features in ``FEATURES`` order."""

    coef: tuple[float, ...]
    intercept: float

    def logit(self, x: Sequence[float]) -> float:
        return self.intercept + sum(c * v for c, v in zip(self.coef, x, strict=True))

    def probability(self, x: Sequence[float]) -> float:
        return 1.0 / (1.0 + math.exp(-self.logit(x)))


@functools.cache
def load_model(path: Path = WEIGHTS_FILE) -> Model:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        names = tuple(raw["features"])
        coef = tuple(float(c) for c in raw["coef"])
        intercept = float(raw["intercept"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: {exc}") from exc
    if names != FEATURES or len(coef) != len(FEATURES):
        raise ModelError(f"{path}: features {names} do not match {FEATURES}")
    return Model(coef, intercept)


class Background:
    """In how many stories of the stream so far (active or dormant; merged ones are counted
    in the story they went into) each term is among the profile's terms.

    It does not depend on which stories are in memory, and it is rebuilt exactly from the
    compacted stories topic (every story's newest profile). A term many stories share
    ("hurricane", "earthquake") is weak evidence that an article reports one of them; a
    name in one story only ("Idalia") is strong.
    """

    def __init__(self) -> None:
        self.df: dict[str, int] = {}
        self.stories = 0

    def add(self, terms: Iterable[str]) -> None:
        for term in terms:
            self.df[term] = self.df.get(term, 0) + 1

    def remove(self, terms: Iterable[str]) -> None:
        for term in terms:
            n = self.df.get(term, 0) - 1
            if n > 0:
                self.df[term] = n
            else:
                self.df.pop(term, None)

    def update(self, before: Sequence[str], after: Sequence[str]) -> None:
        if before != after:
            old, new = set(before), set(after)
            self.remove(old - new)
            self.add(new - old)

    def idf(self, term: str) -> float:
        return math.log((self.stories + 1) / (self.df.get(term, 0) + 1)) + 1.0


class ArticleTerms:
    """An article's terms (or a story's profile) ready to be compared with many stories.

    Against a candidate story, a term's idf counts the stories other than that candidate
    (a name the candidate holds is not made common by the candidate itself, which matters
    early in a stream, when there are few stories): ``log(N / df) + 1`` for the story's
    terms, ``log(N / (df + 1)) + 1`` for the others, N the stories counted.
    """

    __slots__ = ("base", "df", "figures", "figures_norm", "n", "sq", "top", "weights")

    def __init__(self, weights: Mapping[str, float], background: Background) -> None:
        self.weights = weights
        self.n = max(1, background.stories)
        self.df = background.df
        log, n, get = math.log, self.n, self.df.get
        self.base = {t: log(n / (get(t, 0) + 1)) + 1.0 for t in weights}
        self.sq = sum((w * self.base[t]) ** 2 for t, w in weights.items())
        self.top = sorted(weights, key=lambda t: (-math.log1p(weights[t]) * self.base[t], t))[:KEY_TERMS]
        self.figures = {t: w * self.base[t] for t, w in weights.items() if is_figure(t)}
        self.figures_norm = math.sqrt(sum(x * x for x in self.figures.values()))

    def compare(self, terms: Sequence[str], weights: Sequence[float]) -> tuple[float, float, tuple[float, float]]:
        """(lexical, key terms, figures) against a story's profile; see ``features``."""
        log, n, get = math.log, self.n, self.df.get
        a = self.weights
        a_sq, s_sq, dot = self.sq, 0.0, 0.0
        ranked: list[tuple[float, str]] = []
        fig_dot, fig_sq = 0.0, 0.0
        for term, w in zip(terms, weights, strict=True):
            idf = log(n / max(1, get(term, 1))) + 1.0
            x = w * idf
            s_sq += x * x
            ranked.append((-math.log1p(w) * idf, term))
            aw = a.get(term)
            if aw is not None:
                a_sq += (aw * idf) ** 2 - (aw * self.base[term]) ** 2
                dot += aw * idf * x
            if is_figure(term):
                fig_sq += x * x
                fig_dot += self.figures.get(term, 0.0) * x
        lex = dot / math.sqrt(a_sq * s_sq) if dot else 0.0
        ranked.sort()
        s_top = [t for _, t in ranked[:KEY_TERMS]]
        own = set(terms)
        keys = (
            min(sum(t in own for t in self.top) / len(self.top), sum(t in a for t in s_top) / len(s_top))
            if own and a
            else 0.0
        )
        if not self.figures or not fig_sq:
            figs = (0.0, 0.0)
        elif fig_dot == 0.0:
            figs = (0.0, 1.0)
        else:
            figs = (fig_dot / (self.figures_norm * math.sqrt(fig_sq)), 0.0)
        return lex, keys, figs


def gap_days(t: int, first: int, last: int, micros_per_day: int = 86_400_000_000) -> float:
    """Days between a time and a span (0 inside it)."""
    return max(0, t - last, first - t) / micros_per_day


def features(
    semantic: float, lex: float, keys: float, figs: tuple[float, float], gap: float, window_days: float, other: bool
) -> tuple[float, ...]:
    o = 1.0 if other else 0.0
    return (semantic, lex, keys, figs[0], figs[1], min(gap / window_days, 1.0), o, o * lex)
