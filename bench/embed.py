"""Embedding speed, memory and load time per backend, as ratios to torch fp32 measured in the same run.

    python bench/embed.py [--backends torch,onnx,onnx-int8,default] [--texts 256] [--rounds 5]
                          [--dataset PATH.jsonl] [--threads N] [--json] [--worker]

Each backend runs in a process of its own (so its resident memory and load time are its
own: a process that holds that model and nothing else): the child loads the embedder
(``storywire.embedder.load_embedder``, threads from ``STORYWIRE_MODEL_THREADS`` or the CPU
quota), embeds the texts once to warm up, then embeds them once per round when told to.
The rounds alternate between the backends, one child at a time, and each backend keeps its
best round, because other work on a shared machine slows whichever runs while it is busy.
``default`` is the backend ``ModelSettings`` defaults to (measured once if also named).
The ONNX graphs are exported into the cache before the clock starts, so load time is a
service's start with a warm cache: import, weights check, session.

Texts: title plus lead (``enrich.features.embedding_text``, what the embed workers encode)
of ``--texts`` synthetic news articles (``bench/e2e_corpus.py``), or of the labelled set
``--dataset`` names. Printed per backend: texts/s of the best round, its ratio to torch
fp32's best, resident memory after the rounds (VmRSS) and its peak (VmHWM), load seconds,
and the 1-minute load average during the best round. ``--json`` prints exactly
``{"<backend>": {"texts_per_s": ..., "ratio": ..., "rss_mib": ..., "load_s": ...}}`` (the
shape issue #17 names, which other checks read; ``rss_mib`` is VmRSS after the rounds).

``--worker`` also times the real ``EmbedWorker`` (Kafka in and out; needs the local stack)
against bare ``encode`` on the same texts with the default backend (target 0.9 or more).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # a child's load time counts from here: imports included

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Run as ``python bench/embed.py``: this folder would shadow the ``index`` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def articles(n: int, dataset: str | None) -> list[Any]:
    """``n`` synthetic news articles (bench/e2e_corpus.py), or the first ``n`` of a labelled set."""
    if dataset:
        from enrich.eval import load_dataset

        return [it.article for it in load_dataset(dataset)][:n]
    from bench.e2e_corpus import synthetic_article
    from devtools.samples import article

    return [article(k, title=t, content=b, summary="") for k in range(n) for t, b in [synthetic_article(k)]]


def child(backend: str, texts_file: str) -> None:
    """Load one backend, then embed the texts once per line read from stdin; print JSON replies."""
    from storywire.config import ModelSettings, defaults
    from storywire.embedder import load_embedder

    settings = defaults(ModelSettings).model_copy(update={"backend": backend})
    threads = os.environ.get("STORYWIRE_MODEL_THREADS")
    if threads:
        settings = settings.model_copy(update={"threads": int(threads)})
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - _STARTED
    items = json.loads(Path(texts_file).read_text())
    embedder.encode(items)  # warm-up: first-run allocations are not the steady state
    print(json.dumps({"ready": True, "load_s": load_s}), flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        t0 = time.perf_counter()
        embedder.encode(items)
        elapsed = time.perf_counter() - t0
        print(json.dumps({"seconds": elapsed, "load_avg": os.getloadavg()[0]}), flush=True)
    print(json.dumps({"rss_mib": _status_mib("VmRSS"), "peak_rss_mib": _status_mib("VmHWM")}), flush=True)


class Child:
    def __init__(self, backend: str, texts_file: Path, threads: int | None) -> None:
        env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}  # no weight-loading bars
        if threads:
            env["STORYWIRE_MODEL_THREADS"] = str(threads)
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", backend, "--texts-file", str(texts_file)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.backend = backend
        self.load_s = float(self._reply()["load_s"])
        self.rounds: list[tuple[float, float]] = []

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.backend} child died (exit {self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def round(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        reply = self._reply()
        self.rounds.append((float(reply["seconds"]), float(reply["load_avg"])))

    def finish(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("done\n")
        self.proc.stdin.flush()
        reply = self._reply()
        self.proc.wait()
        return reply


def measure(backends: list[str], items: list[str], rounds: int, threads: int | None) -> dict[str, dict[str, Any]]:
    import tempfile

    from storywire.config import ModelSettings, defaults
    from storywire.onnx_embedder import ensure_entry

    for backend in backends:  # export before the clock starts (a service's warm start)
        if backend != "torch":
            ensure_entry(defaults(ModelSettings).model_copy(update={"backend": backend}))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(items, fh)
    children = [Child(b, Path(fh.name), threads) for b in backends]
    try:
        for _ in range(rounds):
            for c in children:
                c.round()
    finally:
        finals = {c.backend: c.finish() for c in children}
        os.unlink(fh.name)
    best = {c.backend: min(c.rounds) for c in children}
    out: dict[str, dict[str, Any]] = {}
    for c in children:
        seconds, load_avg = best[c.backend]
        out[c.backend] = {
            "texts_per_s": round(len(items) / seconds, 1),
            "ratio": round(best["torch"][0] / seconds, 2) if "torch" in best else None,
            "rss_mib": round(finals[c.backend]["rss_mib"]),
            "peak_rss_mib": round(finals[c.backend]["peak_rss_mib"]),
            "load_s": round(c.load_s, 2),
            "load_avg": round(load_avg, 2),
            "rounds_s": [round(s, 2) for s, _ in c.rounds],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--backends", default="torch,onnx,onnx-int8,default", help="comma-separated; default = the default")
    ap.add_argument("--texts", type=int, default=256, help="how many texts (default 256)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; each backend keeps its best (default 5)")
    ap.add_argument("--dataset", help="a labelled JSON-lines set to take the texts from instead")
    ap.add_argument("--threads", type=int, help="STORYWIRE_MODEL_THREADS for every backend (default: the CPU quota)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--worker", action="store_true", help="also time EmbedWorker through Kafka against bare encode")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--texts-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.texts_file)
        return

    from storywire.config import ModelSettings, defaults

    default = defaults(ModelSettings).backend
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    backends = list(dict.fromkeys(default if b == "default" else b for b in names))
    from enrich.features import embedding_text

    arts = articles(args.texts, args.dataset)
    items = [embedding_text(a) for a in arts]
    before = os.getloadavg()
    result = measure(backends, items, args.rounds, args.threads)
    report = {name: result[default if name == "default" else name] for name in names}
    if "default" in report:
        report["default"] = report["default"] | {"backend": default}
    if args.worker:
        from bench.embed_worker import worker_ratio

        report["worker"] = worker_ratio(arts, args.rounds)
    if args.json:
        shape = ("texts_per_s", "ratio", "rss_mib", "load_s")
        print(json.dumps({name: {k: r[k] for k in shape} for name, r in report.items() if name != "worker"}))
        if "worker" in report:  # not a backend: beside the JSON, not in it
            w = report["worker"]
            print(f"EmbedWorker through Kafka / bare encode ({w['backend']}): {w['ratio']:.3f}", file=sys.stderr)
        return
    print(f"{len(items)} texts (title + lead), {args.rounds} alternating rounds, best each; {os.cpu_count()} CPUs")
    print(f"load average before: {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}")
    head = f"{'backend':<22}{'texts/s':>9}{'ratio':>7}{'RSS MiB':>9}{'peak':>6}{'load s':>8}{'load avg':>10}"
    print(head + "  rounds (s)")
    for name, r in report.items():
        if name == "worker":
            continue
        label = f"default ({r['backend']})" if name == "default" else name
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(
            f"{label:<22}{r['texts_per_s']:>9.1f}{ratio:>7}{r['rss_mib']:>9}{r['peak_rss_mib']:>6}"
            f"{r['load_s']:>8.2f}{r['load_avg']:>10.2f}  {r['rounds_s']}"
        )
    if "worker" in report:
        w = report["worker"]
        print(f"EmbedWorker through Kafka / bare encode ({w['backend']}): {w['ratio']:.3f} (target >= 0.9)")
    after = os.getloadavg()
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")


if __name__ == "__main__":
    main()
