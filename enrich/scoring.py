"""Whether an article reports a story's event: a handful of features and a learned decision (pure).

The features of an article ``a`` against a story ``s`` (or of one story against another,
for a merge), in ``FEATURES`` order:

    semantic          cosine of a's embedding and s's centroid
    lexical           cosine of their term vectors (names, places, figures and other
                      content words; ``enrich.features.terms``), each term weighted by
                      its ``Background`` idf, so shared topic words ("hurricane",
                      "florida") count less than a shared name of one event ("idalia")
    names_conflict    1 when a's most salient name is not among s's terms and s's most
                      salient name is not among a's: Hurricane Idalia against Hurricane
                      Ian, the Fed against the Bank of Japan, Monterey Park against Half
                      Moon Bay. Salience is ``log(1 + weight) x idf``: a name the story's
                      members repeat that few other stories hold. A name is a word the
                      lead writes with a capital inside a sentence (titles are often in
                      title case, so their capitals say nothing)
    figures_conflict  the same for figures ("iPhone 15" against "iPhone 16", "0.25%"
                      against "5%")
    gap               days between a's own date and s's span [first, last] (0 inside
                      it), over ``window_days`` (at most 1): a date is compared with the
                      story's own dates, never with a clock of the stream
    other_language    the share of s's members in another language than a's (0 when
                      unknown): the default embedding model is English-only, so across
                      languages a lower cosine means less
    log_size          log of s's size: a centroid and a profile made of many reports
                      match more articles, related or not, than a single report does

The decision is a logistic regression on these features (``Model``), trained on
labelled (article, story) pairs of one development set by ``python -m enrich.train``
and shipped as ``weights.json`` beside this module: the probability that ``a`` reports
``s``'s event. Story against story (a merge) uses the same decision, the smaller
story in the article's place.

    ModelError   the weights file is missing or does not fit the features
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from enrich.features import is_figure
from enrich.story_state import MICROS_PER_DAY, StoryState

FEATURES = (
    "semantic",
    "lexical",
    "names_conflict",
    "figures_conflict",
    "gap",
    "other_language",
    "log_size",
)
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
        z = self.logit(x)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


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


class Evidence:
    """An article's terms (or a story's profile) weighted by the background: what
    ``compare`` needs, computed once for many comparisons."""

    __slots__ = ("figure", "name", "norm", "x")

    def __init__(self, weights: Mapping[str, float], names: Collection[str], background: Background) -> None:
        idf = background.idf
        self.x: dict[str, float] = {}
        name: tuple[float, str] | None = None
        figure: tuple[float, str] | None = None
        for term, w in weights.items():
            i = idf(term)
            self.x[term] = w * i
            if w <= 0.0:
                continue
            key = (-math.log1p(w) * i, term)  # most salient first, ties by term
            if is_figure(term):
                figure = key if figure is None or key < figure else figure
            elif term in names:
                name = key if name is None or key < name else name
        self.norm = math.sqrt(sum(v * v for v in self.x.values()))
        self.name = name[1] if name else None
        self.figure = figure[1] if figure else None


def compare(a: Evidence, s: Evidence) -> tuple[float, float, float]:
    """(lexical, names_conflict, figures_conflict) of ``a`` against ``s``."""
    small, large = (a.x, s.x) if len(a.x) <= len(s.x) else (s.x, a.x)
    dot = sum(v * large[t] for t, v in small.items() if t in large)
    lexical = dot / (a.norm * s.norm) if dot else 0.0
    return lexical, _conflict(a.name, s.name, a, s), _conflict(a.figure, s.figure, a, s)


def _conflict(mine: str | None, theirs: str | None, a: Evidence, s: Evidence) -> float:
    return 1.0 if mine and theirs and mine not in s.x and theirs not in a.x else 0.0


def gap_days(t: int, first: int, last: int, micros_per_day: int = 86_400_000_000) -> float:
    """Days between a time and a span (0 inside it)."""
    return max(0, t - last, first - t) / micros_per_day


def pair_features(
    mine: Evidence,
    unit: npt.NDArray[np.float64],
    t: int,
    language: str | None,
    story: StoryState,
    centroid: npt.NDArray[np.float64],
    background: Background,
    window_days: float,
) -> tuple[float, ...]:
    """``FEATURES`` of an article (its evidence, unit vector, time and language) against a
    story: what the core decides on and ``enrich.train`` learns from."""
    return features(
        float(np.dot(centroid, unit)),
        compare(mine, Evidence(story.profile, story.names, background)),
        gap_days(t, story.first, story.last),
        window_days,
        1.0 - story.language_share(language),
        story.size,
    )


def story_pair_features(
    a: StoryState, b: StoryState, semantic: float, background: Background, window_days: float
) -> tuple[float, ...]:
    """``FEATURES`` of two stories (for a merge): the smaller in the article's place."""
    small, large = (a, b) if (a.size, a.id) <= (b.size, b.id) else (b, a)
    shared = sum(min(small.language_share(x), large.language_share(x)) for x in small.languages)
    return features(
        semantic,
        compare(Evidence(small.profile, small.names, background), Evidence(large.profile, large.names, background)),
        max(0, a.first - b.last, b.first - a.last) / MICROS_PER_DAY,
        window_days,
        1.0 - shared if small.language_counts and large.language_counts else 0.0,
        small.size,
    )


def features(
    semantic: float,
    lexical: tuple[float, float, float],
    gap: float,
    window_days: float,
    other_language: float,
    size: int,
) -> tuple[float, ...]:
    lex, names, figures = lexical
    return (semantic, lex, names, figures, min(gap / window_days, 1.0), other_language, math.log(max(1, size)))
