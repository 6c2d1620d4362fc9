"""Clusterer benchmark: articles/s with many active stories, and memory with 100,000.

    python bench/cluster.py [--stories 10000] [--articles 20000] [--dims 384] [--memory-stories 100000]

Throughput: the core is first given ``--stories`` active stories (through ``restore``,
the path a restart takes), then a stream of articles near those stories (they join)
with a fresh story now and then, all within one day so every story is a candidate.
The articles carry their terms, as the embed workers send them; a second run gives the
figure without (the core then extracts the terms itself). Timed: ``assign_batch`` on
batches of 500 plus building the changed stories' snapshots, which is what the service
does per batch, in wall time and in CPU time of this process
(the steadier figure on a machine shared with other work). Embedding is not included.
BLAS runs on one thread, as in ``storywire cluster`` (``enrich.cluster_service.one_blas_thread``).
The CPU time of the main thread alone is printed too (what the assignment itself costs).

Memory: a separate process restores ``--memory-stories`` active stories, assigns a
batch of articles against them, and reports its resident set size (current and peak);
the target is checked on the peak, the most the process ever held.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrich.cluster import Clusterer
from enrich.cluster_service import one_blas_thread
from enrich.features import article_terms
from storywire.messages import EmbeddedArticle, PublishedFrom, StoryArticle, StoryRestore, StorySnapshot

T0 = datetime(2024, 3, 1, tzinfo=UTC)
# Made-up alphabetic words (digits would make every word a "figure").
WORDS = ["".join(chr(97 + (i // 26**p) % 26) for p in range(3)) + "ova" for i in range(5000)]
_FILLER_TEXT = "said officials after during reported people city government police minister on in of to"
FILLER = _FILLER_TEXT.split()


def centroids(n: int, dims: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dims)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def words_of(k: int, n: int = 24) -> list[str]:
    rng = np.random.default_rng(k)
    return [WORDS[int(i)] for i in rng.integers(0, len(WORDS), n)]


def body_of(words: list[str], rng: np.random.Generator) -> str:
    """About 500 characters of prose-like text: the event's words, names, figures, filler."""
    out = []
    for j in range(70):
        if j % 3 == 0:
            w = words[int(rng.integers(0, len(words)))]
            out.append(w.capitalize() if j % 9 == 0 else w)
        elif j % 17 == 0:
            out.append(str(int(rng.integers(2, 900))))
        else:
            out.append(FILLER[int(rng.integers(0, len(FILLER)))])
        if j % 14 == 13:
            out[-1] += "."
    return " ".join(out)


def snapshots(base: Iterable[np.ndarray]) -> Iterator[StorySnapshot]:
    """One realistic-size active story per row: 3 members, 3 top articles, ~24 profile terms,
    a few of them names."""
    for k, row in enumerate(base):
        words = words_of(k)
        t = T0 + timedelta(seconds=k % 3600)
        tops = tuple(
            StoryArticle(
                id=f"s{k}-{j}",
                title=" ".join(words[j : j + 10]).capitalize(),  # about 70 characters
                url=f"https://x.example/{k}/{j}",
                source=f"src{j}",
                published=t,
                similarity=1.0 - 0.15 * j,  # the founder is 1.0; later members lower
            )
            for j in range(3)
        )
        profile = {w: 3.0 + i for i, w in enumerate(words)}
        yield StorySnapshot(
            id=f"st-{k:08d}",
            version=3,
            label=" ".join(words[:4]),
            keywords=tuple(words[:8]),
            size=3,
            sources=("src0", "src1", "src2"),
            languages=("en",),
            first_seen=t,
            last_seen=t,
            centroid=tuple(row.tolist()),
            top_articles=tops,
            updated=t,
            restore=StoryRestore(
                centroid_scale=2.8,
                profile=profile,
                members=tuple(a.id for a in tops),
                names=tuple(sorted(set(words[:6]))),  # the profile's terms the members wrote as names
                language_counts=(3,),
            ),
        )


def stream(base: np.ndarray, n: int, dims: int, seed: int = 11) -> list[EmbeddedArticle]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(0, len(base)))
        fresh = i % 20 == 0  # one in twenty opens a new story
        v = rng.standard_normal(dims).astype(np.float32) if fresh else base[k] + 0.04 * rng.standard_normal(dims)
        v = v / np.linalg.norm(v)
        words = words_of(k if not fresh else 10_000_000 + i)
        t = T0 + timedelta(hours=1, seconds=i % 3600)
        title = " ".join(w.capitalize() if j % 3 == 0 else w for j, w in enumerate(words[:8])) + f" {i % 30}"
        out.append(
            EmbeddedArticle.model_construct(
                id=f"a{i}",
                url=f"https://y.example/{i}",
                canonical_url=f"https://y.example/{i}",
                feed_url="https://y.example/feed",
                source=f"src{i % 40}",
                title=title,
                summary="",
                content=body_of(words, rng),
                authors=(),
                tags=(),
                language="en",
                published=t,
                published_from=PublishedFrom.ENTRY,
                fetched=t,
                warnings=(),
                embedding=tuple(v.tolist()),
                model="bench",
                schema_version=1,
            )
        )
    return out


def with_terms(items: list[EmbeddedArticle]) -> list[EmbeddedArticle]:
    """The articles as the embed workers send them: with their terms and names computed (untimed here)."""
    out = []
    for a in items:
        names: set[str] = set()
        weights = article_terms(a, names=names)
        out.append(a.model_copy(update={"terms": weights, "names": tuple(sorted(names))}))
    return out


def throughput(stories: int, articles: int, dims: int, terms_from_worker: bool = True) -> dict[str, float]:
    base = centroids(stories, dims)
    core = Clusterer()
    core.restore(snapshots(base))
    items = stream(base, articles, dims)
    if terms_from_worker:
        items = with_terms(items)
    core.assign_batch(items[:500])  # warm-up
    core.take_changes()
    joined = 0
    t_core = 0.0
    t_all = 0.0
    cpu_all = 0.0
    cpu_main = 0.0
    for i in range(500, len(items), 500):
        batch = items[i : i + 500]
        c0, m0 = time.process_time(), time.thread_time()
        t0 = time.perf_counter()
        got = core.assign_batch(batch)
        t1 = time.perf_counter()
        core.take_changes()
        t2 = time.perf_counter()
        cpu_all += time.process_time() - c0
        cpu_main += time.thread_time() - m0
        t_core += t1 - t0
        t_all += t2 - t0
        joined += sum(not g.new_story for g in got)
    n = len(items) - 500
    # The floor under any exact scan: the same products on float32 copies, nothing else.
    u32 = np.asarray(core._table.u[: core._table.rows], dtype=np.float32)
    vecs = np.asarray([a.embedding for a in items[:400]], dtype=np.float32)
    t0 = time.perf_counter()
    for _ in range(5):
        vecs @ u32.T
    scan = 5 * len(vecs) / (time.perf_counter() - t0)
    return {
        "active_stories_at_start": stories,
        "active_stories_at_end": core.active_count,
        "dims": dims,
        "articles": n,
        "joined_fraction": round(joined / n, 3),
        "articles_per_s_assign": round(n / t_core),
        "articles_per_s_assign_and_snapshots": round(n / t_all),
        # Per CPU-second of this process (all its threads): steadier than wall time when
        # other work shares the cores; with idle cores, wall time can beat it (BLAS threads).
        "articles_per_cpu_s_assign_and_snapshots": round(n / cpu_all),
        "main_thread_cpu_us_per_article": round(cpu_main / n * 1e6),
        "articles_per_s_bare_matrix_scan": round(scan),
    }


def rows(n: int, dims: int, block: int = 4096) -> Iterator[np.ndarray]:
    """The same unit vectors as ``centroids``' rows would be, made a block at a time."""
    for start in range(0, n, block):
        yield from centroids(min(block, n - start), dims, seed=start)


def memory_child(stories: int, dims: int) -> None:
    core = Clusterer()
    core.restore(snapshots(rows(stories, dims)))
    core.assign_batch(stream(centroids(500, dims, seed=0), 500, dims))
    core.take_changes()
    status = Path("/proc/self/status").read_text().splitlines()
    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child
    # started from the (bigger) throughput process would report the parent's peak.
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(
        json.dumps(
            {
                "active_stories": core.active_count,
                "dims": dims,
                "rss_mb": round(rss_kb / 1024),
                "peak_rss_mb": round(peak_kb / 1024),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stories", type=int, default=10_000)
    ap.add_argument("--articles", type=int, default=20_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--memory-stories", type=int, default=100_000)
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    one_blas_thread()  # as `storywire cluster` does
    if args.memory_child:
        memory_child(args.memory_stories, args.dims)
        return
    tp = throughput(args.stories, args.articles, args.dims)
    print("throughput", json.dumps(tp))
    rate = tp["articles_per_s_assign_and_snapshots"]
    print(
        f"  target >= 1000 articles/s: {rate} articles/s (ratio {rate / 1000:.2f}); "
        f"the main thread spent {tp['main_thread_cpu_us_per_article']} us of CPU per article "
        f"(1000/s is 1000 us); the bare centroid scan alone runs at "
        f"{tp['articles_per_s_bare_matrix_scan']} articles/s "
        f"(ratio {rate / tp['articles_per_s_bare_matrix_scan']:.2f}); load average {os.getloadavg()[0]:.1f}"
    )
    # The same stream without terms, as an older embed worker would send it: the core then
    # extracts them itself (the cost the workers take off the single clusterer).
    own = throughput(args.stories, args.articles, args.dims, terms_from_worker=False)
    print("throughput_core_extracts_terms", json.dumps(own))
    rate, ref = own["articles_per_s_assign_and_snapshots"], tp["articles_per_s_assign_and_snapshots"]
    print(f"  with terms extracted in the clusterer: {rate} articles/s (ratio to the run above {rate / ref:.2f})")
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-child",
            "--memory-stories",
            str(args.memory_stories),
            "--dims",
            str(args.dims),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    print("memory", json.dumps(mem))
    peak, now = mem["peak_rss_mb"], mem["rss_mb"]
    print(f"  target < 500 MB RSS: {peak} MB peak (ratio {peak / 500:.2f}), {now} MB now")


if __name__ == "__main__":
    main()
