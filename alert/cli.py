"""`storywire alert` runs the service; `storywire alerts check|test` help write rules.

storywire alert [--rules FILE]                 consume story updates and send alerts
storywire alerts check FILE                    validate a rules file, list its rules
storywire alerts test RULE --story-file F      show what RULE would send for a story
                                               (webhook JSON and e-mail), sending nothing
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from alert.engine import duration
from alert.errors import AlertError
from alert.rules import BreakingRule, RuleSet, VelocityRule, WatchRule, load_rules
from storywire.commands import add_json, print_json


def register(sub: Any) -> None:
    run = sub.add_parser("alert", help="run the alert service (stories topic -> webhooks, e-mail, alerts topic)")
    run.add_argument("--rules", type=Path, help="rules file (default: STORYWIRE_ALERT_RULES_FILE)")
    run.add_argument("--state-dir", type=Path, help="alert state directory (default: STORYWIRE_ALERT_STATE_DIR)")
    run.set_defaults(func=_run)

    alerts = sub.add_parser("alerts", help="check alert rules and preview alerts")
    cmds = alerts.add_subparsers(dest="alerts_command", required=True)
    check = cmds.add_parser("check", help="validate a rules file")
    check.add_argument("file", type=Path, help="the rules file (YAML)")
    add_json(check, "the rules")
    check.set_defaults(func=_check)
    test = cmds.add_parser("test", help="render what a rule would send for a story, without sending")
    test.add_argument("rule", help="rule name")
    test.add_argument("--story-file", type=Path, required=True, help="a Story JSON (as on the stories topic)")
    test.add_argument("--rules", type=Path, help="rules file (default: STORYWIRE_ALERT_RULES_FILE)")
    test.add_argument(
        "--channel", choices=["webhook", "email", "all"], default="all", help="which rendering to show (default: all)"
    )
    test.set_defaults(func=_test)


def _rules(path: Path | None) -> tuple[RuleSet, Path]:
    from storywire.commands import CommandError

    if path is None:
        from alert.settings import AlertSettings
        from storywire.config import load

        path = load(AlertSettings).rules_file
    try:
        return load_rules(path), path
    except AlertError as exc:
        raise CommandError(str(exc)) from exc


def _describe(rule: BreakingRule | WatchRule | VelocityRule) -> str:
    return f"{rule.name:<24} {rule.kind:<9} {_summary(rule)}"


def _summary(rule: BreakingRule | WatchRule | VelocityRule) -> str:
    if isinstance(rule, BreakingRule):
        what = f">= {rule.min_articles} articles from >= {rule.min_sources} sources within {duration(rule.window)}"
    elif isinstance(rule, WatchRule):
        grow = [f"+{rule.grow_by}" if rule.grow_by else "", f"x{rule.grow_factor}" if rule.grow_factor else ""]
        what = f"query: {rule.query}; new within {duration(rule.new_within)}" + (
            f", or grown {' / '.join(g for g in grow if g)}" if any(grow) else ""
        )
    else:
        what = f"rate over {duration(rule.short_window)} >= {rule.ratio}x the rate over {duration(rule.long_window)}"
    filters = [
        f"{k}={','.join(v)}" for k, v in (("language", rule.language), ("source", rule.source), ("tag", rule.tag)) if v
    ]
    if rule.min_size > 1:
        filters.append(f"min_size={rule.min_size}")
    return what + (f"  [{' '.join(filters)}]" if filters else "")


def _check(args: argparse.Namespace) -> int:
    rules, path = _rules(args.file)
    if args.json:
        print_json([{**rule.model_dump(mode="json"), "summary": _summary(rule)} for rule in rules.rules])
        return 0
    print(f"{path}: {len(rules.rules)} rules OK")
    for rule in rules.rules:
        print("  " + _describe(rule))
    return 0


def _test(args: argparse.Namespace) -> int:
    from alert.engine import Engine
    from alert.render import email_message, slack_payload
    from alert.settings import AlertSettings
    from storywire.commands import CommandError
    from storywire.config import load
    from storywire.messages import Alert, MessageError, Story, decode

    rules, _ = _rules(args.rules)
    try:
        rule = rules.get(args.rule)
    except KeyError:
        names = ", ".join(r.name for r in rules.rules)
        raise CommandError(f"no rule named {args.rule!r} (rules: {names})") from None
    try:
        story = decode(Story, args.story_file.read_bytes())
    except (OSError, MessageError) as exc:
        raise CommandError(f"{args.story_file}: {exc}") from exc

    # Evaluate as if the update had just arrived and Storywire had never seen the story.
    engine = Engine(RuleSet(rules=(rule,)), clock=lambda: story.updated)
    alerts = engine.process(story, {}).alerts
    if alerts:
        alert = alerts[0]
        print(f"# rule {rule.name!r} fires for story {story.id}: {alert.reason}")
    else:
        alert = Alert(
            id=f"{rule.name}/{story.id}/0",
            rule=rule.name,
            kind=rule.kind,
            story=story,
            reason="(preview: the rule does not fire for this story)",
            time=story.updated,
        )
        print(f"# rule {rule.name!r} does NOT fire for story {story.id}; this is what it would look like")
    settings = load(AlertSettings)
    link = settings.link(story.id)
    if args.channel in ("webhook", "all"):
        print("# webhook payload (Slack-compatible JSON)")
        print(json.dumps(slack_payload(alert, link), indent=2, ensure_ascii=False))
    if args.channel in ("email", "all"):
        print("# e-mail")
        to = settings.recipients or ("editor@example.org",)
        print(email_message(alert, link, settings.email_from, to).as_string())
    return 0


def _run(args: argparse.Namespace) -> int:
    from alert.service import AlertService
    from alert.settings import AlertSettings
    from storywire.bus import Topics, group_id
    from storywire.commands import CommandError
    from storywire.config import KafkaSettings, load
    from storywire.lag import LagMonitor
    from storywire.runtime import OpsServer, Stopper, heartbeat_live

    overrides: dict[str, Any] = {}
    if args.rules:
        overrides["rules_file"] = args.rules
    if args.state_dir:
        overrides["state_dir"] = args.state_dir
    settings = load(AlertSettings, **overrides)
    rules, _ = _rules(settings.rules_file)
    stop = Stopper.install()
    from kafka.errors import KafkaError

    kafka = load(KafkaSettings)
    try:
        service = AlertService(kafka, settings, rules)
    except AlertError as exc:
        raise CommandError(str(exc)) from exc
    except KafkaError as exc:
        raise CommandError(f"cannot reach Kafka at {kafka.bootstrap_servers}: {type(exc).__name__}") from exc
    # Ready while the loop polls; alive unless it is stuck (a webhook outage is retried from the outbox).
    ops = OpsServer(settings.ops_port, health=service.health, live=heartbeat_live(lambda: service.last_poll, 600))
    group = group_id(kafka, settings.group_id, "alert")
    lag = LagMonitor(kafka, group, [Topics(kafka.topic_prefix).stories]).start()
    try:
        service.run(stop)
    finally:
        lag.close()
        ops.close()
        service.close()
    return 0
