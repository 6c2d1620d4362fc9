"""Memory of the index writer over a long stream: RSS over time, tracemalloc growth sites, gc type counts.

A producer process writes enriched articles (384-dim vectors) and story snapshots (one
per article, the story's version rising) to fresh topics at ``--rate`` articles per
second; the writer runs as ``storywire index run`` (the real service) in a child process
whose RSS is sampled every ``--every`` seconds. ``--trace`` runs the same service
in-process in the child with tracemalloc on and prints, at the end, the allocation
sites that grew most between the first snapshot after the warm-up and the last, and the
gc object types whose counts grew.

Many small batches stress what grows per poll / bulk / commit; ``--flush-ms`` and
``--bulk-max`` shape the batches (the service's defaults are 500 ms and 200).

    python bench/index_memory.py [--articles 50000] [--rate 200] [--every 10] [--trace]
        [--flush-ms 0] [--bulk-max 10] [--env MALLOC_ARENA_MAX=2 ...] [--proxy]
        [--stall AT:SECONDS ...]

``--stall`` stops the writer (SIGSTOP) for a while: the backlog then comes back as
full-size batches, which is what sets the process's memory high-water mark.

Everything runs under a fresh prefix on the local stack (``storywire stack up``) and is
deleted afterwards. Figures are from one run on whatever machine runs it.

What it showed (2-core machine shared with the fault suite; RSS in MiB):

- Steady stream, no backlog: flat. 10/s for 11 min (6,600 articles + 6,600 story
  snapshots): 70.2 at 3.5 min, 70.6 at 11 min, with or without the soak's proxy.
  100/s in bulks of 10 (60,000 articles, ~12,000 bulks) for 10 min: 71.9 at 6 min,
  72.6 at 10 min. tracemalloc (10/s, t=90 s -> 755 s): no site grew by more than
  +380 KiB; the largest is pydantic-core's JSON string cache (``validate_json``), which
  fills to ~1.1 MiB (16,384 strings) and stops; gc object counts unchanged.
- Backlogs: after each catch-up RSS stays at the high-water mark of the batches it
  took (pymalloc keeps its arenas). 10/s with stalls of 3, 5, 8, 12, 16 and 20 s:
  68.9 -> 70.8 -> 73.7 -> 77.3 -> 86.2 -> 87.7 -> 88.9, flat between stalls: the
  soak's "linear" climb. The ceiling is set by the batch and fetch sizes, not by time:
  50/s with stalls of 10, 30, 60, 90 and 150 s: 122, 182, 214, 217, 224.
  ``MALLOC_ARENA_MAX=2`` changes nothing (102, 185, 217); ``PYTHONMALLOC=malloc``
  gives some back (182 after a 30 s stall, 154 after the next one). After a 90 s stall
  at 50/s: 217 with the defaults, 137 with ``STORYWIRE_INDEX_BULK_MAX_DOCS=200``, 108
  with that and ``STORYWIRE_INDEX_MAX_PARTITION_FETCH_BYTES=1048576`` (the backlog of
  ~4,500 articles was indexed within 10 s in each case). Those figures are with the
  old defaults, ``bulk_max_docs`` 1000 and 8 MiB fetches.
- With the defaults since lowered to 200 and 1 MiB (``--rate 50 --articles 38000
  --every 10 --stall 30:10 --stall 80:30 --stall 150:60 --stall 270:120 --stall
  450:240``): RSS after the catch-up from each stall 101, 104, 98, 106, 106 (peak
  107.3 during the last one, a backlog of 12,000 articles and 12,000 snapshots indexed
  in ~20 s); 76 before the first stall. The high-water mark no longer rises with the
  length of the backlog: it levels off at ~106 MiB (one run), against 122 -> 224 with
  the old defaults. Steady 10/s with the new defaults (``--rate 10 --articles 6000
  --every 30``, alongside the stall run): 66 at start, 69.5 at 2 min, 69.9 at 7.5 min,
  70.0 at 10 min.
- The soak's slow climb (docs/reliability.md, "Soak run") is another thing: it was the
  same with the smaller batches (72 -> 98 MiB in 39 min at 10/s, then 95-96), all of it
  in glibc's main heap while its bytes in use and the tracemalloc figures did not trend.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/index_memory.py``: this folder must not shadow the ``index`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

from bench.procstat import rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _bench_index() -> Any:
    spec = importlib.util.spec_from_file_location("bench_index", ROOT / "bench" / "index.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def produce(prefix: str, n: int, rate: float, stories: int) -> None:
    """Articles and one story snapshot per article, from templates with the ids and versions rewritten."""
    from storywire.bus import Topics, key_bytes, make_producer
    from storywire.config import KafkaSettings

    bi = _bench_index()
    arts = [a.to_json() for a in bi.articles(200)]
    stos = [s.to_json() for s in bi.stories(200)]
    ks = KafkaSettings(topic_prefix=prefix)
    topics = Topics(prefix)
    producer = make_producer(ks, linger_ms=5)
    version: dict[int, int] = {}
    t0 = time.monotonic()
    for i in range(n):
        aid = f"mem-{i:08d}"
        value = arts[i % len(arts)].replace(f'"id":"bench-{i % len(arts):07d}"'.encode(), f'"id":"{aid}"'.encode(), 1)
        producer.send(topics.enriched, key=key_bytes(aid), value=value)
        s = i % stories
        version[s] = version.get(s, 0) + 1
        sid = f"story-{s:07d}"
        tmpl = stos[s % len(stos)].replace(f'"id":"story-{s % len(stos):07d}"'.encode(), f'"id":"{sid}"'.encode(), 1)
        value = tmpl.replace(b'"version":1,', f'"version":{version[s]},'.encode(), 1)
        producer.send(topics.stories, key=key_bytes(sid), value=value)
        if rate > 0:
            ahead = (i + 1) / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    producer.close()


def writer_traced(out: Path, every: float, warm_s: float, top: int) -> None:
    """``storywire index run`` in this process, with tracemalloc snapshots and gc type counts."""
    import tracemalloc

    from index.cli import cmd_run
    from storywire.logs import configure_logging

    configure_logging("INFO")
    tracemalloc.start(12)
    marks: dict[str, Any] = {}
    stopped = threading.Event()
    t0 = time.monotonic()

    def types() -> Counter[str]:
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    def sampler() -> None:
        while not stopped.wait(every):
            t = time.monotonic() - t0
            if "early" not in marks and t >= warm_s:
                gc.collect()
                marks["early"] = (t, tracemalloc.take_snapshot(), types())
            cur, peak = tracemalloc.get_traced_memory()
            with out.open("a") as fh:
                fh.write(f"trace t={t:.0f} traced_mib={cur / 2**20:.2f} peak_mib={peak / 2**20:.2f}\n")

    threading.Thread(target=sampler, daemon=True).start()
    cmd_run(argparse.Namespace())
    stopped.set()
    gc.collect()
    t = time.monotonic() - t0
    late = (t, tracemalloc.take_snapshot(), types())
    if "early" not in marks:
        return
    te, early_snap, early_types = marks["early"]
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    lines = [f"tracemalloc growth between t={te:.0f}s and t={t:.0f}s (top {top} by size, grouped by traceback):"]
    stats = late[1].filter_traces(filters).compare_to(early_snap.filter_traces(filters), "traceback")
    for st in stats[:top]:
        lines.append(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+7d} blocks  (now {st.size / 1024:.1f} KiB)")
        for frame in st.traceback.format()[-12:]:
            lines.append("      " + frame.strip())
    lines.append("by line:")
    for st in late[1].filter_traces(filters).compare_to(early_snap.filter_traces(filters), "lineno")[:top]:
        lines.append(f"  {st}")
    lines.append("gc object types that grew:")
    diff = late[2].copy()
    diff.subtract(early_types)
    for name, d in diff.most_common(25):
        if d > 0:
            lines.append(f"  {name}: {early_types[name]} -> {late[2][name]} ({d:+d})")
    with out.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def indexed(es: Any, prefix: str) -> int:
    try:
        return int(es.count(index=f"{prefix}-articles")["count"])
    except Exception:  # not created yet, or busy: a gap in the column, not a failure
        return -1


def cleanup(prefix: str) -> None:
    from devtools.demo.pipeline import wipe
    from devtools.stack import Stack
    from devtools.stack.settings import StackSettings

    wipe(prefix, Stack(StackSettings()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=200.0, help="articles per second (0: as fast as possible)")
    ap.add_argument("--stories", type=int, default=4000, help="distinct stories the snapshots cycle through")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--warm", type=float, default=60.0, help="seconds before the first tracemalloc snapshot")
    ap.add_argument("--flush-ms", type=int, help="STORYWIRE_INDEX_FLUSH_MS for the writer")
    ap.add_argument("--bulk-max", type=int, help="STORYWIRE_INDEX_BULK_MAX_DOCS for the writer")
    ap.add_argument("--trace", action="store_true", help="tracemalloc + gc counts in the writer (slower)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the writer (MALLOC_ARENA_MAX=2 ...)")
    ap.add_argument("--proxy", action="store_true", help="Elasticsearch through the soak's proxy")
    ap.add_argument(
        "--stall",
        action="append",
        default=[],
        metavar="AT:SECONDS",
        help="SIGSTOP the writer at AT s for SECONDS (a backlog, then full-size batches); repeatable",
    )
    ap.add_argument("--tail", type=float, default=0.0, help="seconds to keep the writer idle after the stream")
    ap.add_argument("--produce", nargs=4, metavar=("PREFIX", "N", "RATE", "STORIES"), help=argparse.SUPPRESS)
    ap.add_argument("--writer-traced", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.produce:
        p, n, r, s = args.produce
        produce(p, int(n), float(r), int(s))
        return 0
    if args.writer_traced:
        writer_traced(Path(args.writer_traced), args.every, args.warm, args.top)
        return 0

    from index.client import make_client
    from storywire.bus import Topics, ensure_topics
    from storywire.config import ElasticsearchSettings, KafkaSettings

    prefix = f"memprobe{uuid.uuid4().hex[:6]}"
    ensure_topics(KafkaSettings(topic_prefix=prefix), Topics(prefix))
    es = make_client(ElasticsearchSettings(index_prefix=prefix))
    env = os.environ | {
        "STORYWIRE_KAFKA_TOPIC_PREFIX": prefix,
        "STORYWIRE_ES_INDEX_PREFIX": prefix,
        "STORYWIRE_INDEX_GROUP_ID": f"{prefix}-index",
        "STORYWIRE_INDEX_DIMS": "384",
        "STORYWIRE_INDEX_OPS_PORT": "0",
        "PYTHONPATH": str(ROOT),
    }
    proxy = None
    if args.proxy:
        from devtools.faults.servers import Proxy429

        proxy = Proxy429(ElasticsearchSettings().url)
        env["STORYWIRE_ES_URL"] = proxy.url
        env["STORYWIRE_ES_REQUEST_TIMEOUT_S"] = "10"
    if args.flush_ms is not None:
        env["STORYWIRE_INDEX_FLUSH_MS"] = str(args.flush_ms)
    if args.bulk_max is not None:
        env["STORYWIRE_INDEX_BULK_MAX_DOCS"] = str(args.bulk_max)
    env |= dict(kv.split("=", 1) for kv in args.env)
    trace_out = Path(f"/tmp/{prefix}-trace.txt")
    if args.trace:
        cmd = [sys.executable, __file__, "--writer-traced", str(trace_out), "--every", str(args.every)]
        cmd += ["--warm", str(args.warm), "--top", str(args.top)]
    else:
        cmd = [sys.executable, "-m", "storywire.app.cli", "index", "run"]
    log = Path(f"/tmp/{prefix}-writer.log")
    print(f"prefix {prefix}; writer {' '.join(cmd[1:3])}; extra env {args.env}; log {log}", flush=True)
    writer = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    producer = None
    try:
        time.sleep(5)  # let the writer join its group before the stream starts
        producer = subprocess.Popen(
            [sys.executable, __file__, "--produce", prefix, str(args.articles), str(args.rate), str(args.stories)],
            cwd=ROOT,
        )
        t0 = time.monotonic()
        done_at: float | None = None
        print(f"{'t':>6} {'rss_mib':>8} {'indexed':>8} {'producer':>8}", flush=True)
        stalls = sorted(tuple(float(x) for x in st.split(":")) for st in args.stall)
        while writer.poll() is None:
            t = time.monotonic() - t0
            if stalls and t >= stalls[0][0]:
                _, seconds = stalls.pop(0)
                print(f"{t:6.0f} stalling the writer for {seconds:.0f} s", flush=True)
                writer.send_signal(signal.SIGSTOP)
                time.sleep(seconds)
                writer.send_signal(signal.SIGCONT)
                continue
            rss = rss_mib(writer.pid)
            state = "done" if producer.poll() is not None else "running"
            print(f"{t:6.0f} {rss or 0:8.1f} {indexed(es, prefix):8d} {state:>8}", flush=True)
            if producer.poll() is not None and done_at is None:
                done_at = t
            if done_at is not None and t - done_at >= max(args.tail, 2 * args.every):
                break
            time.sleep(args.every)
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=120)
    finally:
        for p in (producer, writer):
            if p is not None and p.poll() is None:
                p.kill()
        es.close()
        if proxy is not None:
            proxy.close()
        cleanup(prefix)
    if args.trace and trace_out.exists():
        print(trace_out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
