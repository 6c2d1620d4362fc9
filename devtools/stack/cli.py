"""`storywire stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import json
from collections import deque
from pathlib import Path

from devtools.stack import Stack
from devtools.stack.settings import StackSettings
from storywire.commands import add_json, int_at_least
from storywire.config import load


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stack", help="run real Kafka and Elasticsearch as local processes")
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb, text in [("up", "start (no-op when running) and wait until both answer"), ("down", "stop cleanly")]:
        v = verbs.add_parser(verb, help=text)
        v.add_argument("--only", choices=["kafka", "elasticsearch"], help="act on one service")
    st = verbs.add_parser("status", help="versions, addresses, pids and data directories")
    add_json(st, "the status")
    lg = verbs.add_parser("logs", help="the last lines of the servers' logs")
    lg.add_argument("service", nargs="?", choices=["kafka", "elasticsearch"], help="one server (default: both)")
    lg.add_argument("-n", "--lines", type=int_at_least(1), default=40, help="how many last lines (default: 40)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    stack = Stack(load(StackSettings))
    if args.verb == "up":
        started = stack.up(args.only)
        print(f"stack: started {', '.join(started)}" if started else "stack: already up")
        _print_status(stack.status())
    elif args.verb == "down":
        stopped = stack.down(args.only)
        print(f"stack: stopped {', '.join(stopped)}" if stopped else "stack: nothing was running")
    elif args.verb == "status":
        status = stack.status()
        print(json.dumps(status, indent=2)) if args.json else _print_status(status)
        return 0 if status["running"] else 1
    elif args.verb == "logs":
        for svc in stack.services(args.service):
            log = Path(svc.status().log_file)
            print(f"==> {svc.name}: {log}")
            if log.exists():
                with log.open(errors="replace") as f:
                    print("".join(deque(f, maxlen=args.lines)), end="")
    return 0


def _print_status(status: dict[str, object]) -> None:
    services = status["services"]
    assert isinstance(services, dict)
    for s in services.values():
        state = f"running pid {s['pid']}" if s["running"] else "stopped"
        print(f"{s['name']:<14} {s['version']:<9} {s['address']:<24} {state:<20} data {s['data_dir']}")
