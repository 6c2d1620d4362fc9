"""Clustering quality on a labelled set: replays through the real core in the arrival
orders a live pipeline meets (``enrich.orders``: published, jitter, backfill, one-day).

The data set is JSON lines with ``id``, ``event`` (the gold label), ``title``, ``text``,
``published`` (ISO date or time; a date alone gives ``published_precision`` "day", as a
feed's date-only entry does), ``source``, ``lang`` and ``url``; its path is always a
parameter. ``one-day`` puts every article on one day, keeping the order: time cannot
separate events then, only content can. The embedding function is passed in, so the
eval does not depend on which embedder (or backend) makes the vectors.

Figures: B-cubed precision, recall and F1; pairwise F1; adjusted mutual information;
the number of predicted and true stories. Two simple references run on the same
vectors in the same call, so the figures show what each ingredient buys: single-pass
clustering on title TF-IDF, and single-pass clustering on the embedding alone (each at
its best threshold on the set itself, which flatters them).

    EvalError   the data set is missing or a line does not parse
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enrich import orders
from enrich.cluster import Clusterer
from enrich.features import embedding_text
from enrich.lookup import MemoryLookup
from enrich.settings import EnrichSettings
from storywire.config import defaults
from storywire.messages import Article, EmbeddedArticle, PublishedFrom, TimePrecision


class EvalError(Exception):
    """The labelled set cannot be read."""


@dataclass(frozen=True)
class Labelled:
    article: Article
    event: str


def _parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _precision(value: str) -> TimePrecision:
    """A ``published`` of a date alone ("2023-01-14") is known to the day, not to midnight."""
    return TimePrecision.DAY if "T" not in value and ":" not in value else TimePrecision.SECOND


def load_dataset(path: str | Path) -> list[Labelled]:
    """The labelled articles, sorted by publication time (stable for equal times)."""
    p = Path(path)
    if not p.is_file():
        raise EvalError(f"{p}: no such file")
    items: list[Labelled] = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                when = str(row["published"])
                published = _parse_time(when)
                art = Article(
                    id=str(row["id"]),
                    url=str(row.get("url") or f"urn:eval:{row['id']}"),
                    canonical_url=str(row.get("url") or f"urn:eval:{row['id']}"),
                    feed_url="urn:eval",
                    source=str(row.get("source") or "unknown"),
                    title=str(row.get("title") or ""),
                    content=str(row.get("text") or ""),
                    language=row.get("lang"),
                    published=published,
                    published_precision=_precision(when),
                    published_from=PublishedFrom.ENTRY,
                    fetched=published,
                )
                items.append(Labelled(art, str(row["event"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise EvalError(f"{p}:{lineno}: {exc}") from exc
    items.sort(key=lambda it: it.article.published)
    return items


def with_vectors(items: Sequence[Labelled], vectors: npt.NDArray[np.float32], model: str) -> list[EmbeddedArticle]:
    return [
        EmbeddedArticle.model_validate(it.article.model_dump() | {"embedding": tuple(v.tolist()), "model": model})
        for it, v in zip(items, vectors, strict=True)
    ]


def concurrent(articles: Sequence[EmbeddedArticle]) -> list[EmbeddedArticle]:
    """The same articles in the same order, all published within one day (``orders.one_day``)."""
    return orders.one_day(articles)


# ----------------------------------------------------------------------------- metrics
def bcubed(pred: Sequence[str], gold: Sequence[str]) -> tuple[float, float, float]:
    pc, gc = Counter(pred), Counter(gold)
    both = Counter(zip(pred, gold, strict=True))
    n = len(pred)
    if n == 0:
        return 0.0, 0.0, 0.0
    p = sum(both[(pi, gi)] / pc[pi] for pi, gi in zip(pred, gold, strict=True)) / n
    r = sum(both[(pi, gi)] / gc[gi] for pi, gi in zip(pred, gold, strict=True)) / n
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pairwise_f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    def pairs(c: Counter[Any]) -> int:
        return sum(k * (k - 1) // 2 for k in c.values())

    tp = pairs(Counter(zip(pred, gold, strict=True)))
    pp, gp = pairs(Counter(pred)), pairs(Counter(gold))
    if tp == 0:
        return 0.0
    prec, rec = tp / pp, tp / gp
    return 2 * prec * rec / (prec + rec)


def scores(pred: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import adjusted_mutual_info_score

    p, r, f = bcubed(pred, gold)
    return {
        "bcubed_precision": round(p, 4),
        "bcubed_recall": round(r, 4),
        "bcubed_f1": round(f, 4),
        "pairwise_f1": round(pairwise_f1(pred, gold), 4),
        "ami": round(float(adjusted_mutual_info_score(gold, pred)), 4),
        "predicted_stories": len(set(pred)),
        "true_stories": len(set(gold)),
    }


# -------------------------------------------------------------------------- clusterers
def run_core(articles: Sequence[EmbeddedArticle], settings: EnrichSettings | None = None, batch: int = 50) -> list[str]:
    """Story of each article through the real core, in the order given, resolved after
    merges. Batches as the service cuts them; dormant stories are found again through the
    snapshots the core emitted, as the service finds them in the stories index."""
    lookup = MemoryLookup()
    core = Clusterer(settings, lookup)
    got: list[str] = []
    for start in range(0, len(articles), batch):
        got += [a.story_id for a in core.assign_batch(articles[start : start + batch])]
        lookup.add(core.take_changes())
    return [core.resolve(s) for s in got]


def single_pass(
    vectors: npt.NDArray[np.float64], times: Sequence[float], threshold: float, window_days: float
) -> list[str]:
    """Reference: join the most similar centroid within the window if above threshold."""
    centroids: list[npt.NDArray[np.float64]] = []
    last: list[float] = []
    out: list[str] = []
    for v, t in zip(vectors, times, strict=True):
        best, best_sim = -1, threshold
        for k, c in enumerate(centroids):
            if abs(t - last[k]) > window_days * 86400:
                continue
            norm = float(np.linalg.norm(c))
            sim = float(np.dot(c, v)) / norm if norm else 0.0
            if sim >= best_sim:
                best, best_sim = k, sim
        if best < 0:
            centroids.append(v.copy())
            last.append(t)
            best = len(centroids) - 1
        else:
            centroids[best] = centroids[best] + v
            last[best] = max(last[best], t)
        out.append(f"r{best}")
    return out


def _best_reference(
    vectors: npt.NDArray[np.float64], times: Sequence[float], gold: Sequence[str], window_days: float
) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for th in np.arange(0.1, 0.95, 0.025):
        pred = single_pass(vectors, times, float(th), window_days)
        sc = scores(pred, gold)
        if not best or sc["bcubed_f1"] > best["bcubed_f1"]:
            best = sc | {"threshold": round(float(th), 3)}
    return best


def references(articles: Sequence[EmbeddedArticle], gold: Sequence[str], window_days: float) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    times = [a.published.timestamp() for a in articles]
    tfidf = TfidfVectorizer(strip_accents="unicode", sublinear_tf=True).fit_transform([a.title for a in articles])
    title_vecs = np.asarray(tfidf.toarray(), dtype=np.float64)
    emb = np.asarray([a.embedding for a in articles], dtype=np.float64)
    return {
        "title_tfidf_single_pass": _best_reference(title_vecs, times, gold, window_days),
        "embedding_single_pass": _best_reference(emb, times, gold, window_days),
    }


def evaluate(
    path: str | Path,
    embed: Callable[[list[str]], npt.NDArray[np.float32]],
    model: str,
    settings: EnrichSettings | None = None,
    order_names: Sequence[str] = orders.ORDERS,
    with_references: bool = True,
) -> dict[str, Any]:
    """Figures for each arrival order (``enrich.orders``): ``{"<order>": {"storywire": {...},
    <references>}}``. For the random orders (jitter, backfill) the worst of the seeds."""
    settings = settings if settings is not None else defaults(EnrichSettings)
    items = load_dataset(path)
    gold = {it.article.id: it.event for it in items}
    vectors = embed([embedding_text(it.article, settings.lead_chars) for it in items])
    base = with_vectors(items, vectors, model)
    report: dict[str, Any] = {}
    for order in order_names:
        worst: tuple[dict[str, Any], list[EmbeddedArticle]] | None = None
        for seed in orders.seeds_of(order):
            arts = orders.arrival(base, order, seed)
            got = scores(run_core(arts, settings), [gold[a.id] for a in arts]) | {"seed": seed}
            if worst is None or got["bcubed_f1"] < worst[0]["bcubed_f1"]:
                worst = (got, arts)
        assert worst is not None
        entry: dict[str, Any] = {"storywire": worst[0]}
        if with_references:  # in the same arrival order as the worst seed
            entry |= references(worst[1], [gold[a.id] for a in worst[1]], settings.window_days)
        report[order] = entry
    return report


def format_report(report: dict[str, Any], dataset: str = "") -> str:
    lines = [f"dataset {dataset}" if dataset else ""]
    cols = ["bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_f1", "ami", "predicted_stories", "true_stories"]
    head = ["B3-P", "B3-R", "B3-F1", "pair-F1", "AMI", "#pred", "#true"]
    for order, entry in report.items():
        lines.append("")
        seed = entry["storywire"].get("seed")
        lines.append(
            f"{order}:"
            + (
                f" (worst of seeds {', '.join(map(str, orders.seeds_of(order)))}: {seed})"
                if len(orders.seeds_of(order)) > 1
                else ""
            )
        )
        lines.append(f"  {'method':<36}" + "".join(f"{h:>9}" for h in head))
        for name, sc in entry.items():
            label = name + (f" (th {sc['threshold']})" if "threshold" in sc else "")
            lines.append(f"  {label:<36}" + "".join(f"{sc[c]:>9}" for c in cols))
    return "\n".join(line for line in lines if line or len(lines) > 1).strip("\n")
