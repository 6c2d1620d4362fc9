"""The shipped watch rule "kremlin drone" (config/alerts.yaml) fires on the Kremlin drone incident:
the two seed reports (../shared/seeds, written very differently) through the real embedder,
the real clusterer and the real alert engine. Skips when the seeds are absent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alert.engine import Engine
from alert.engine import StoryState as AlertStoryState
from alert.rules import WatchRule, load_rules
from enrich.cluster import Clusterer
from enrich.embed_worker import embed_articles
from enrich.eval import load_dataset
from storywire.config import ModelSettings
from storywire.embedder import load_embedder
from tests.unit.test_enrich_events import FIXTURES, seed_article

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_kremlin_drone_watch_fires_on_the_two_seed_reports(shared_dir: Path) -> None:
    seeds = sorted((shared_dir / "seeds").glob("*.txt"))
    if len(seeds) < 2:
        pytest.skip("../shared/seeds is not present")
    reports = [seed_article(p, datetime(2023, 5, 3 + i, 12, tzinfo=UTC)) for i, p in enumerate(seeds[:2])]
    others = [it.article for it in load_dataset(FIXTURES / "events.jsonl") if not it.event.startswith("kremlin")]
    stream = embed_articles(sorted([*reports, *others], key=lambda a: a.published), load_embedder(ModelSettings()), 500)
    core = Clusterer()
    got: dict[str, str] = {}
    versions = []  # every snapshot, in the order the alert service would read them
    for article in stream:
        got[article.id] = core.assign(article).story_id
        versions += [s.public() for s in core.take_changes()]
    sid = core.resolve(got[reports[0].id])
    assert core.resolve(got[reports[1].id]) == sid
    latest = {s.id: s for s in versions}
    story = latest[sid]
    assert "kremlin" in story.label.lower() and "drone" in story.label.lower(), story.label

    rules = load_rules(ROOT / "config" / "alerts.yaml")
    watch = next(r for r in rules.rules if r.name == "watch-kremlin")
    assert isinstance(watch, WatchRule) and watch.parsed.matches(story)
    states: dict[str, AlertStoryState] = {}
    fired = []
    for snap in versions:
        if snap.id != sid:
            continue
        outcome = Engine(rules, clock=lambda snap=snap: snap.updated).process(snap, states)  # type: ignore[misc]
        states |= outcome.states
        fired += [a for a in outcome.alerts if a.rule == "watch-kremlin"]
    assert fired, [v.label for v in versions if v.id == sid]
    assert fired[0].story.id == sid
    # Nor does it fire on the other stories (the eclipse, the drones on Moscow's districts weeks later).
    others_fired = [s.label for i, s in latest.items() if i != sid and watch.parsed.matches(s)]
    assert others_fired == [], others_fired
