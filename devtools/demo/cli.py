"""`storywire demo [--once]`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on bundled demo feeds (no internet)")
    p.add_argument("--once", action="store_true", help="run to completion, print the stories as JSON, exit")
    p.add_argument("--port", type=int, default=8000, help="port of the API and web page")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every article")
    p.add_argument("--prefix", default="demo", help="topic/index prefix and state name (wiped at start)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from devtools.demo.pipeline import run_demo

    return run_demo(once=args.once, port=args.port, prefix=args.prefix, timeout_s=args.timeout)
