"""``storywire eval``: the story clustering, measured on a labelled JSON-lines set.

In the application layer because it assembles stages: the embedder (kernel), the
clusterer's core replay (``enrich.eval``), and, for the search and label checks, the
index writer's documents and the read side's search.

    storywire eval DATA [--concurrent|--both] [--json]   clustering figures
    storywire eval DATA --labels [--json]                each multi-article story's label and headline
                                                         beside the gold event label
    storywire eval DATA --search [--json]                MRR and recall@3 of the story search on the
                                                         running Elasticsearch (temporary indices)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help="clustering quality on a labelled JSON-lines set")
    p.add_argument("dataset", help="JSON lines with id, event, title, text, published, source, lang, url")
    p.add_argument(
        "--order",
        action="append",
        choices=["published", "jitter", "backfill", "one-day"],
        help="arrival order to replay (repeatable; default: all four). jitter and backfill report the worst of 3 seeds",
    )
    p.add_argument("--concurrent", action="store_true", help="the same as --order one-day")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-references", action="store_true", help="skip the simple reference clusterers")
    p.add_argument("--labels", action="store_true", help="each multi-article story's label beside the gold event")
    p.add_argument("--search", action="store_true", help="story search MRR and recall@3 on the running Elasticsearch")
    p.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from enrich.eval import EvalError, evaluate, format_report
    from enrich.orders import ORDERS
    from enrich.settings import EnrichSettings
    from storywire.commands import CommandError
    from storywire.config import ModelSettings, load
    from storywire.embedder import EmbedderError, load_embedder

    chosen = list(dict.fromkeys((args.order or []) + (["one-day"] if args.concurrent else []))) or list(ORDERS)
    try:
        model = load(ModelSettings)
        embedder = load_embedder(model)
        if args.labels or args.search:
            return _names_and_search(args, embedder, load(EnrichSettings))
        report = evaluate(
            args.dataset,
            lambda texts: _encode_with_progress(embedder, texts),
            embedder.name,
            load(EnrichSettings),
            order_names=chosen,
            with_references=not args.no_references,
        )
    except (EvalError, EmbedderError) as exc:
        raise CommandError(str(exc)) from exc
    title = f"{args.dataset} (model {embedder.name}, backend {model.backend})"
    print(json.dumps(report) if args.json else format_report(report, title))
    return 0


def _names_and_search(args: argparse.Namespace, embedder: Any, settings: Any) -> int:
    """Replay the set in publication order through the real core; then the labels, the search, or both."""
    from enrich.eval import load_dataset
    from enrich.features import embedding_text

    items = load_dataset(args.dataset)  # publication order
    vectors = _encode_with_progress(embedder, [embedding_text(it.article, settings.lead_chars) for it in items])
    articles, stories = replay(items, vectors, embedder.name, settings)
    events = {it.article.id: it.event for it in items}
    gold = event_labels(args.dataset)
    out: dict[str, Any] = {}
    if args.labels:
        out["labels"] = label_rows(articles, stories, events, gold)
    if args.search:
        out["search"] = _search(articles, stories, events, gold, embedder)
    if args.json:
        print(json.dumps({k: (v.figures if k == "search" else v) for k, v in out.items()}))
    else:
        if "labels" in out:
            print(format_labels(out["labels"]))
        if "search" in out:
            print(format_search(out["search"]))
    return 0


def replay(
    items: Sequence[Any], vectors: Any, model: str, settings: Any, batch: int = 50
) -> tuple[list[Any], list[Any]]:
    """Each article with its (merge-resolved) story, and every story's last public snapshot: the
    core replay of ``enrich.eval.run_core`` (the service's batches; dormant stories found again
    through the snapshots emitted), in the order given (publication order from ``load_dataset``)."""
    from enrich.cluster import Clusterer
    from enrich.eval import with_vectors
    from enrich.lookup import MemoryLookup
    from storywire.messages import EnrichedArticle

    embedded = with_vectors(items, vectors, model)
    lookup = MemoryLookup()
    core = Clusterer(settings, lookup)
    got = []
    latest: dict[str, Any] = {}
    for start in range(0, len(embedded), batch):
        got += core.assign_batch(embedded[start : start + batch])
        changes = core.take_changes()
        lookup.add(changes)
        latest |= {s.id: s.public() for s in changes}
    articles = [
        EnrichedArticle.model_validate(
            a.model_dump() | {"story_id": a_story, "similarity": g.similarity, "story_label": latest[a_story].label}
        )
        for a, g in zip(embedded, got, strict=True)
        if (a_story := core.resolve(g.story_id)) in latest
    ]
    return articles, list(latest.values())


def event_labels(path: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                labels.setdefault(str(row["event"]), str(row.get("event_label") or row["event"]))
    return labels


def label_rows(
    articles: Sequence[Any], stories: Sequence[Any], events: dict[str, str], gold: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per predicted story of two or more articles, oldest first (``events``: article id -> event)."""
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for a in articles:
        members[a.story_id][events.get(a.id, "")] += 1
    by_id = {s.id: s for s in stories}
    rows = []
    for sid, counts in members.items():
        size = sum(counts.values())
        if size < 2 or sid not in by_id:
            continue
        event = min(counts, key=lambda e: (-counts[e], e))
        s = by_id[sid]
        rows.append(
            {
                "label": s.label,
                "headline": s.headline,
                "event_label": gold.get(event, event),
                "event": event,
                "size": size,
                "first_seen": s.first_seen.isoformat(),
            }
        )
    rows.sort(key=lambda r: (r["first_seen"], r["label"]))
    return rows


def format_labels(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{len(rows)} stories of two or more articles: label | headline | gold event label"]
    for r in rows:
        lines.append(f"{r['size']:>3}  {r['label']}  |  {r['headline']}  |  {r['event_label']}")
    return "\n".join(lines)


def _search(articles: Any, stories: Any, events: Any, gold: dict[str, str], embedder: Any) -> Any:
    from index.client import make_client
    from index.settings import IndexSettings
    from search.evaluate import evaluate_search
    from storywire.commands import CommandError
    from storywire.config import ElasticsearchSettings, load

    es_settings = load(ElasticsearchSettings)
    es = make_client(es_settings)
    try:
        return evaluate_search(
            es,
            load(IndexSettings),
            articles,
            stories,
            [events[a.id] for a in articles],
            gold,
            lambda text: [float(x) for x in embedder.encode([text])[0]],
        )
    except Exception as exc:
        if "Connection" in type(exc).__name__ or "Transport" in type(exc).__name__:
            raise CommandError(f"Elasticsearch at {es_settings.url} is not reachable: {exc}") from exc
        raise
    finally:
        es.close()


def format_search(report: Any) -> str:
    f = report.figures
    lines = [f"search: MRR {f['mrr']:.3f}, recall@3 {f['recall_at_3']:.3f} over {f['queries']} queries"]
    for kind in ("label", "words"):
        k = report.by_kind(kind)
        lines.append(f"  by {kind:<6} MRR {k['mrr']:.3f}, recall@3 {k['recall_at_3']:.3f} ({k['queries']})")
    misses = [r for r in report.rows if r["rank"] != 1]
    if misses:
        lines.append("  not first:")
        lines += [f"    rank {r['rank'] or '-':>2}  {r['query']}" for r in misses]
    return "\n".join(lines)


def _encode_with_progress(embedder: Any, texts: list[str], chunk: int = 256) -> Any:
    """The whole set through the model in chunks, with a progress line (stderr) every few seconds."""
    import numpy as np

    from storywire.runtime import Progress

    progress = Progress("eval embed", log, total=len(texts), every_n=2048)
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(embedder.encode(texts[start : start + chunk]))
        progress.step(len(texts[start : start + chunk]))
    progress.done()
    return np.concatenate(parts) if parts else embedder.encode(texts)
