"""Soak run: the whole pipeline at a steady rate for a long time, watching memory, lag and errors.

Serves a synthetic stream (devtools/faults/corpus.py) at ``--rate`` articles per second for
``--minutes``, runs ingest, embed, cluster, index and alert as supervised processes
(the fault suite's harness, without faults) and prints every ``--every`` seconds:

    t  released  indexed  lag  | RSS MiB per stage | restarts  error lines

At the end it prints each stage's RSS growth between the first sample after the
warm-up (a fifth of the run) and the last, and the largest lag. A stage that grows
without bound shows as a steady climb after the warm-up.

    python bench/soak.py [--rate 10] [--minutes 30] [--every 30] [--own-stack]
        [--index-variant NAME:KEY=VALUE[,KEY=VALUE...] ...]

``--index-variant`` runs one more index writer beside the pipeline's, on the same topics
under its own consumer group and index prefix, with the settings or environment given
(``off:STORYWIRE_INDEX_RECLAIM_S=0``, ``jemalloc:LD_PRELOAD=...``): an A/B of
the writer's memory on one stream in one run. Its RSS is an extra column.

It runs against the local stack (``storywire stack up``) under a fresh prefix that is
deleted afterwards; ``--own-stack`` starts a separate Kafka and Elasticsearch on free
ports instead. Figures are from one run on whatever machine runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/soak.py``: the repository root must be importable (devtools).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.procstat import rss_mib  # noqa: E402
from devtools.demo.pipeline import wipe  # noqa: E402
from devtools.faults.checks import es_count  # noqa: E402
from devtools.faults.harness import PIPELINE, FaultRun, make_stack, remove_stack  # noqa: E402
from devtools.stack import Stack  # noqa: E402
from devtools.stack.settings import StackSettings  # noqa: E402
from storywire.app.supervisor import STAGES, Supervisor  # noqa: E402


def error_lines(logs: Path) -> int:
    total = 0
    for f in logs.glob("*.log"):
        with f.open(errors="replace") as fh:
            total += sum(1 for line in fh if " ERROR " in line or line.startswith("Traceback"))
    return total


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME:KEY=VALUE,KEY=VALUE`` -> (name, env); the name goes into an index prefix, so lower case."""
    name, _, pairs = text.partition(":")
    if not name or not name.isalnum() or name != name.lower():
        raise argparse.ArgumentTypeError(f"variant name must be lower-case letters and digits: {name!r}")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    return name, env


def variant_writers(run: FaultRun, variants: list[tuple[str, dict[str, str]]]) -> Supervisor:
    """One more index writer per variant: the pipeline's env, its own group and index prefix, plus ``env``."""
    base = run.child("index").env
    sup = Supervisor({f"index-{n}": STAGES["index"] for n, _ in variants}, base, ops_base_port=None)
    for child, (name, env) in zip(sup.children, variants, strict=True):
        log = run.workdir / "logs" / f"{child.name}.log"
        child.argv = [
            "sh",
            "-c",
            f'exec "$0" -m storywire.app.cli "$@" >>"{log}" 2>&1',
            sys.executable,
            *STAGES["index"],
        ]
        child.env |= env | {
            "STORYWIRE_INDEX_GROUP_ID": f"{run.prefix}-index-{name}",
            "STORYWIRE_ES_INDEX_PREFIX": f"{run.prefix}-v{name}",
        }
    return sup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=10.0, help="articles per second")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between report lines")
    ap.add_argument("--own-stack", action="store_true", help="a separate Kafka and Elasticsearch on free ports")
    ap.add_argument(
        "--index-variant",
        type=parse_variant,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="one more index writer with these settings or environment (repeatable)",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep the stages' logs (else removed at the end)")
    args = ap.parse_args()

    duration = args.minutes * 60
    articles = max(50, int(args.rate * duration))
    stack = make_stack("soak") if args.own_stack else Stack(StackSettings(), progress=False)
    stack.up()
    work = Path(tempfile.mkdtemp(prefix="storywire-soak-"))
    prefix = f"soak{int(time.time())}"
    run = FaultRun(
        stack, work, articles=articles, events=max(20, articles // 12), stream_s=duration, seed=1, prefix=prefix
    )
    print(f"soak: {articles} articles at {args.rate}/s for {args.minutes} min, prefix {run.prefix}, logs {work}/logs")
    columns = [*PIPELINE, *(f"index-{n}" for n, _ in args.index_variant)]
    print(
        f"{'t':>6} {'released':>8} {'indexed':>8} {'lag':>6} | "
        + " ".join(f"{s:>8}" for s in columns)
        + " | restarts errors"
    )
    history: list[tuple[float, dict[str, float | None], int]] = []
    run.start()
    extra = variant_writers(run, args.index_variant)
    extra.start()
    children = [*run.sup.children, *extra.children]
    t0 = time.time()
    next_report = 0.0
    try:
        while True:
            t = time.time() - t0
            run.feeds.release_until(int(articles * min(1.0, t / duration)))
            run.sup.tick()
            extra.tick()
            if t >= next_report:
                next_report += args.every
                indexed = es_count(stack.elasticsearch.url, run.prefix, timeout=5) or 0
                lag = run.feeds.released - indexed
                rss = {c.name: rss_mib(c.proc.pid if c.proc else None) for c in children}
                history.append((t, rss, lag))
                cells = " ".join(f"{rss[s]:8.0f}" if rss[s] is not None else f"{'-':>8}" for s in columns)
                restarts = sum(c.restarts for c in children)
                errors = error_lines(work / "logs")
                print(
                    f"{t:6.0f} {run.feeds.released:8d} {indexed:8d} {lag:6d} | {cells} | {restarts:8d} {errors:6d}",
                    flush=True,
                )
                if t > duration and lag <= 0:
                    break
                if t > duration + 300:
                    print("soak: the pipeline did not catch up within 5 minutes after the stream ended")
                    break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("soak: interrupted; the summary covers the samples so far")
    finally:
        extra.stop()
        for name, _ in args.index_variant:
            print(f"soak: index-{name} wrote {es_count(stack.elasticsearch.url, f'{run.prefix}-v{name}', 5)} articles")
        run.stop()
        errors_at_end = error_lines(work / "logs")
        wipe(run.prefix, stack, work / "state")
        if args.own_stack:
            remove_stack(stack)
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
    warm = [h for h in history if h[0] >= duration / 5]
    if len(warm) >= 2:
        first, last = warm[0][1], warm[-1][1]
        print(
            "soak: RSS growth after warm-up (MiB): "
            + ", ".join(
                f"{s} {((last[s] or 0) - (first[s] or 0)):+.0f} ({first[s] or 0:.0f} -> {last[s] or 0:.0f})"
                for s in columns
            )
        )
    print(
        f"soak: largest lag {max((h[2] for h in history), default=0)} articles; "
        f"restarts {sum(c.restarts for c in children)}; error lines {errors_at_end}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
