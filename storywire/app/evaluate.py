"""``storywire eval``: the story clustering, measured on a labelled JSON-lines set.

In the application layer because it assembles stages: the embedder (kernel), the
clusterer's core replay (``enrich.eval``), and, for the search and label checks, the
index writer's documents and the read side's search.
"""

from __future__ import annotations

import argparse
import json
import logging
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
    print(json.dumps(report) if args.json else format_report(report, f"{args.dataset} (model {embedder.name})"))
    return 0


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
