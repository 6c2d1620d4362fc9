"""Relabel cost: how long ``StoryState.relabel`` takes, and how often the clusterer calls it.

    python bench/labels.py [--rounds 20] [--stories 10000] [--articles 10000]

1. Real titles. The labelled events of ``../shared/eval/dev.jsonl`` and ``dev2.jsonl`` (when
   present) and the bundled demo's stories: each event's members are added one at a time in
   publication order as the clusterer adds them (terms, naming title, top article) and the
   story is relabelled whenever the clusterer would (``enrich.cluster``'s rule: its naming
   titles changed while it is small or at an even size, its closest member changed, or its size
   reached a power of two). The namer's per-title caches are cleared before each round (new
   titles, words seen before); ``--rounds`` rounds, the median round reported, in
   milliseconds per relabel.
2. The clusterer's stream (``bench/cluster.py``'s: ``--stories`` restored stories, then
   ``--articles`` articles near them): relabels per article, and the share of the main
   thread's CPU time spent relabelling.

Printed with the load average: the machine is shared, read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich import label_casing, labels  # noqa: E402
from enrich.eval import load_dataset  # noqa: E402
from enrich.features import article_terms  # noqa: E402
from enrich.scoring import Background  # noqa: E402
from enrich.settings import EnrichSettings  # noqa: E402
from enrich.story_state import StoryState, Top, to_micros  # noqa: E402
from storywire.messages import Article, PublishedFrom  # noqa: E402

DEV_SETS = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT.parent / "shared" / "eval" / "dev2.jsonl"]


def demo_events() -> list[list[Article]]:
    from devtools.demo.corpus import load_demo_articles

    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    by: dict[str, list[Article]] = defaultdict(list)
    for i, a in enumerate(load_demo_articles()):
        when = a.published_at(start)
        by[a.story].append(
            Article(
                id=f"demo-{i}",
                url=f"https://{a.outlet.host}{a.path}",
                canonical_url=f"https://{a.outlet.host}{a.path}",
                feed_url=f"https://{a.outlet.host}/feed",
                source=a.outlet.host,
                title=a.title,
                content=a.summary,
                language=a.outlet.language,
                published=when,
                published_from=PublishedFrom.ENTRY,
                fetched=when,
            )
        )
    return [sorted(v, key=lambda x: x.published) for v in by.values()]


def dev_events() -> list[list[Article]]:
    out = []
    for path in DEV_SETS:
        if not path.is_file():
            continue
        by: dict[str, list[Article]] = defaultdict(list)
        for it in load_dataset(path):
            by[it.event].append(it.article)
        out += list(by.values())
    return out


def clear_caches() -> None:
    """Forget every title (as a process does that has not seen these titles), not the words
    (stems, word kinds: a long-running process has seen most of them)."""
    for cached in (labels._facts, labels._casing, label_casing.clean_title):
        cached.cache_clear()


def stream_events(events: Sequence[Sequence[Article]], settings: EnrichSettings) -> Iterator[StoryState]:
    """Each event built member by member; yields the state each time the clusterer would relabel it."""
    for n, arts in enumerate(events):
        st = StoryState(f"st-{n}", to_micros(arts[0].published))
        for k, a in enumerate(arts):
            sim = 1.0 if k == 0 else 0.9 - 0.01 * k
            st.members.append(a.id)
            st.add_language(a.language)
            st.add_terms(article_terms(a, settings.lead_chars), settings.profile_terms)
            top = Top(sim, a.id, a.title, a.url, a.source, to_micros(a.published), a.language)
            size = st.size
            titles = st.add_title(a, sim)
            closest = st.add_top(top, settings.top_articles)
            if closest or (titles and (size <= 4 or size % 2 == 0)) or size & (size - 1) == 0:
                yield st


def real_titles(rounds: int) -> dict[str, Any]:
    settings = EnrichSettings()
    events = dev_events() + demo_events()
    background = Background()
    background.stories = len(events)
    per_round = []
    calls = 0
    for _ in range(rounds):
        clear_caches()
        spent = 0.0
        calls = 0
        for st in stream_events(events, settings):
            t0 = time.perf_counter()
            st.relabel(background.idf, settings.keywords, settings.label_max_words)
            spent += time.perf_counter() - t0
            calls += 1
        per_round.append(spent / max(1, calls))
    articles = sum(len(e) for e in events)
    return {
        "events": len(events),
        "articles": articles,
        "relabels": calls,
        "relabels_per_article": round(calls / max(1, articles), 2),
        "ms_per_relabel_median": round(statistics.median(per_round) * 1e3, 3),
        "ms_per_relabel_best": round(min(per_round) * 1e3, 3),
    }


def _timed(fn: Callable[..., None], tally: list[float]) -> Callable[..., None]:
    def wrapper(self: StoryState, *args: Any) -> None:
        t0 = time.thread_time()
        fn(self, *args)
        tally.append(time.thread_time() - t0)

    return wrapper


def clusterer_stream(stories: int, articles: int) -> dict[str, Any]:
    import cluster as cluster_bench  # bench/cluster.py: the same restored stories and stream

    from enrich.cluster import Clusterer

    base = cluster_bench.centroids(stories, 384)
    core = Clusterer()
    core.restore(cluster_bench.snapshots(base))
    items = cluster_bench.with_terms(cluster_bench.stream(base, articles, 384))
    tally: list[float] = []
    original = StoryState.relabel
    StoryState.relabel = _timed(original, tally)  # type: ignore[method-assign]
    try:
        t0 = time.thread_time()
        for i in range(0, len(items), 500):
            core.assign_batch(items[i : i + 500])
            core.take_changes()
        main = time.thread_time() - t0
    finally:
        StoryState.relabel = original  # type: ignore[method-assign]
    return {
        "articles": len(items),
        "relabels_per_article": round(len(tally) / len(items), 2),
        "us_per_relabel": round(sum(tally) / max(1, len(tally)) * 1e6),
        "relabel_share_of_main_thread_cpu": round(sum(tally) / main, 3),
        "main_thread_cpu_us_per_article": round(main / len(items) * 1e6),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--stories", type=int, default=10_000)
    ap.add_argument("--articles", type=int, default=10_000)
    args = ap.parse_args()
    real = real_titles(args.rounds)
    print("real_titles", json.dumps(real))
    synthetic = clusterer_stream(args.stories, args.articles)
    print("clusterer_stream", json.dumps(synthetic))
    print(
        f"  relabel: {real['ms_per_relabel_median']} ms on real titles, {real['relabels_per_article']} per article; "
        f"{synthetic['us_per_relabel']} us in the clusterer's stream, {synthetic['relabels_per_article']} per article, "
        f"{100 * synthetic['relabel_share_of_main_thread_cpu']:.0f}% of the main thread's CPU "
        f"({synthetic['main_thread_cpu_us_per_article']} us per article; 1000 articles/s is 1000 us); "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
