"""Learn the clusterer's decision (``enrich/weights.json``) from a labelled set.

    python -m enrich.train ../shared/eval/dev2.jsonl [--out enrich/weights.json]

The set is replayed in each arrival order of ``enrich.orders`` (one seed each) with
every article put into its true story (teacher forcing). Each article, on arrival, is
paired with every story so far that the core would consider (span within the window,
cosine with the centroid at the pre-screen floor or more), labelled 1 when the story is
its event; the pairs' features are those of ``enrich.scoring``. A logistic regression
is fitted; its regularisation is chosen on a validation split that holds out whole
events (the pairs of a fifth of the events), then it is refitted on every pair. The
coefficients, the set's name and the validation figures are written as JSON.

The embeddings come from the configured model and backend (``STORYWIRE_MODEL_*``), as in
``storywire eval``. ``enrich/weights.json`` is trained on the reference backend's vectors
(``STORYWIRE_MODEL_BACKEND=torch``); the faster backends are held to torch's figures with
those same weights (tests/quality/test_embedding_backends.py), not trained per backend.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enrich import orders, scoring
from enrich.eval import load_dataset, with_vectors
from enrich.features import article_terms, embedding_text
from enrich.settings import EnrichSettings
from enrich.story_state import MICROS_PER_DAY, StoryState, to_micros
from storywire.config import defaults
from storywire.messages import EmbeddedArticle

Cs = (0.01, 0.1, 1.0, 10.0, 100.0)


class _Gold:
    """A true story as it grows: the same state the core keeps."""

    def __init__(self, first: int) -> None:
        self.state = StoryState("gold", first)
        self.total: npt.NDArray[np.float64] | None = None


def pairs(
    articles: Sequence[EmbeddedArticle], gold: dict[str, str], settings: EnrichSettings
) -> tuple[list[tuple[float, ...]], list[int], list[str]]:
    """(features, label, the article's event) of every pair the core would score."""
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    groups: list[str] = []
    stories: dict[str, _Gold] = {}
    background = scoring.Background()
    window = settings.window_days * MICROS_PER_DAY
    for a in articles:
        t = to_micros(a.published)
        v = np.asarray(a.embedding, dtype=np.float64)
        v /= np.linalg.norm(v)
        names: set[str] = set()
        weights = article_terms(a, settings.lead_chars, names=names)
        mine = scoring.Evidence(weights, names, background)
        event = gold[a.id]
        for name, g in stories.items():
            st = g.state
            assert g.total is not None
            unit = g.total / np.linalg.norm(g.total)
            if scoring.gap_days(t, st.first, st.last) * MICROS_PER_DAY > window:
                continue
            if float(np.dot(unit, v)) < settings.semantic_floor:
                continue
            xs.append(scoring.pair_features(mine, v, t, a.language, st, unit, background, settings.window_days))
            ys.append(int(name == event))
            groups.append(event)
        if event not in stories:
            background.stories += 1
        g = stories.setdefault(event, _Gold(t))
        g.total = v.copy() if g.total is None else g.total + v
        st = g.state
        st.first, st.last = min(st.first, t), max(st.last, t)
        st.members.append(a.id)
        st.add_language(a.language)
        background.update(st.add_terms(weights, settings.profile_terms, names), st.terms)
    return xs, ys, groups


def fit(xs: list[tuple[float, ...]], ys: list[int], groups: list[str], seed: int = 0) -> dict[str, Any]:
    """Logistic regression, its C chosen on held-out events, refitted on all pairs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    x, y, g = np.asarray(xs), np.asarray(ys), np.asarray(groups)
    train, val = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(x, y, g))
    best: tuple[float, float, float] | None = None  # (log loss, C, auc)
    for c in Cs:
        m = LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train])
        p = m.predict_proba(x[val])[:, 1]
        loss = float(log_loss(y[val], p, labels=[0, 1]))
        auc = float(roc_auc_score(y[val], p)) if len(set(y[val])) == 2 else math.nan
        if best is None or loss < best[0]:
            best = (loss, c, auc)
    assert best is not None
    final = LogisticRegression(C=best[1], max_iter=5000).fit(x, y)
    return {
        "features": list(scoring.FEATURES),
        "coef": [round(float(c), 6) for c in final.coef_[0]],
        "intercept": round(float(final.intercept_[0]), 6),
        "C": best[1],
        "validation": {"log_loss": round(best[0], 4), "auc": round(best[2], 4), "pairs": len(val)},
        "pairs": len(y),
        "positives": int(y.sum()),
    }


def train(
    path: str | Path,
    embed: Callable[[list[str]], npt.NDArray[np.float32]],
    model: str,
    settings: EnrichSettings | None = None,
) -> dict[str, Any]:
    settings = settings if settings is not None else defaults(EnrichSettings)
    items = load_dataset(path)
    vectors = embed([embedding_text(it.article, settings.lead_chars) for it in items])
    base = with_vectors(items, vectors, model)
    gold = {it.article.id: it.event for it in items}
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    groups: list[str] = []
    for order in orders.ORDERS:
        x, y, g = pairs(orders.arrival(base, order, seed=0), gold, settings)
        xs += x
        ys += y
        groups += g
    out = fit(xs, ys, groups)
    out["trained_on"] = Path(path).name
    out["orders"] = list(orders.ORDERS)
    out["model"] = model
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from storywire.config import ModelSettings, load
    from storywire.embedder import load_embedder

    parser = argparse.ArgumentParser(prog="python -m enrich.train", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="labelled JSON lines (see enrich.eval)")
    parser.add_argument("--out", default=str(scoring.WEIGHTS_FILE), help="where to write the weights (JSON)")
    args = parser.parse_args(argv)
    embedder = load_embedder(load(ModelSettings))
    result = train(args.dataset, embedder.encode, embedder.name, load(EnrichSettings))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
