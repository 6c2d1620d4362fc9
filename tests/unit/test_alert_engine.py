"""The pure alert engine: each rule kind fires when it should and stays quiet when it should."""

from __future__ import annotations

from datetime import datetime, timedelta

from alert.engine import Engine, StoryState
from alert.rules import parse_rules
from devtools.samples import T0, story
from storywire.messages import Alert, Story, StoryArticle, StoryStatus

SOURCES = tuple(f"s{i}.example" for i in range(30))


def snap(
    sid: str, version: int, size: int, minute: float, *, first: float = 0, n_sources: int | None = None, **kw: object
) -> Story:
    """A snapshot of story ``sid`` at T0 + minute, first seen at T0 + first."""
    n = min(size, len(SOURCES)) if n_sources is None else n_sources
    at = T0 + timedelta(minutes=minute)
    fields: dict[str, object] = {
        "size": size,
        "sources": SOURCES[:n],
        "first_seen": T0 + timedelta(minutes=first),
        "last_seen": at,
        "updated": at,
        "top_articles": tuple(
            StoryArticle(
                id=f"{sid}-a{i}",
                title=f"Kremlin drone attack report {i}",
                url=f"https://x/{i}",
                source=SOURCES[i % len(SOURCES)],
                published=at,
            )
            for i in range(min(size, 3) if size < 4 else size - 3, min(size, 3) if size < 4 else size)
        ),
    }
    fields.update(kw)
    return story(sid, version, **fields)


class Feed:
    """Feeds updates through an engine whose clock reads the update's own time, keeping the states."""

    def __init__(self, rules_yaml: str, lag: timedelta = timedelta(seconds=2)) -> None:
        self.now = T0
        self.lag = lag
        self.engine = Engine(parse_rules(rules_yaml), clock=lambda: self.now)
        self.states: dict[str, StoryState] = {}

    def __call__(self, s: Story) -> list[Alert]:
        self.now = s.updated + self.lag
        out = self.engine.process(s, {i: self.states[i] for i in Engine.needs(s) if i in self.states})
        self.states.update(out.states)
        return out.alerts


BREAKING = "- {name: brk, kind: breaking, min_articles: 4, min_sources: 3, window: 1h}"


def test_breaking_fires_once_when_enough_sources_report_a_new_story() -> None:
    feed = Feed(BREAKING)
    assert feed(snap("s1", 1, 1, 0)) == []
    assert feed(snap("s1", 2, 3, 10)) == []  # 3 articles: below N
    assert feed(snap("s1", 3, 4, 20, n_sources=2)) == []  # 4 articles, 2 sources: below M
    (alert,) = feed(snap("s1", 4, 5, 30, n_sources=3))
    assert (alert.id, alert.rule, alert.kind, alert.level) == ("brk/s1/0", "brk", "breaking", 0)
    assert alert.reason.startswith("breaking: 5 articles from 3 sources in 30 min")
    assert alert.time == T0 + timedelta(minutes=30, seconds=2)
    assert feed(snap("s1", 5, 6, 35)) == []  # once per (rule, story)


def test_breaking_stays_quiet_for_a_story_first_seen_before_the_window() -> None:
    feed = Feed(BREAKING)
    assert feed(snap("s1", 1, 2, 0)) == []
    assert feed(snap("s1", 2, 9, 61)) == []  # first seen 61 min ago: old news growing, not breaking


def test_breaking_with_a_source_filter_counts_only_those_sources() -> None:
    feed = Feed(
        "- {name: b, kind: breaking, min_articles: 3, min_sources: 2, window: 1h, source: [s0.example, s9.example]}"
    )
    assert feed(snap("s1", 1, 5, 5)) == []  # five sources, only one of them listed
    assert len(feed(snap("s1", 2, 10, 10))) == 1  # now s9.example too


def test_escalation_at_2x_and_5x_says_what_changed() -> None:
    feed = Feed(BREAKING)
    assert len(feed(snap("s1", 1, 4, 10))) == 1  # first alert at size 4
    assert feed(snap("s1", 2, 7, 20)) == []
    (up,) = feed(snap("s1", 3, 8, 30, label="Kremlin drone attack: Moscow blames Kyiv"))
    assert (up.id, up.level) == ("brk/s1/1", 1)
    assert "grew from 4 to 8 articles (2.0x the first alert)" in up.reason
    assert "4 new sources: s4.example, s5.example, s6.example, s7.example" in up.reason
    assert 'now "Kremlin drone attack: Moscow blames Kyiv" (was "Kremlin drone attack")' in up.reason
    assert 'new headline: "Kremlin drone attack report 5"' in up.reason
    assert feed(snap("s1", 4, 19, 40)) == []
    (top,) = feed(snap("s1", 5, 20, 50))
    assert (top.id, top.level) == ("brk/s1/2", 2) and "grew from 8 to 20" in top.reason
    assert feed(snap("s1", 6, 100, 55)) == []  # no level beyond the last factor


def test_a_jump_past_several_levels_sends_only_the_highest() -> None:
    feed = Feed(BREAKING)
    feed(snap("s1", 1, 4, 10))
    assert [a.level for a in feed(snap("s1", 2, 25, 20))] == [2]


def test_redelivered_and_old_versions_change_nothing() -> None:
    feed = Feed(BREAKING)
    first = snap("s1", 3, 5, 10)
    assert len(feed(first)) == 1
    before = feed.states["s1"]
    assert feed(first) == [] and feed(snap("s1", 2, 50, 5)) == []
    assert feed.states["s1"] == before


def test_stale_updates_and_inactive_stories_never_alert() -> None:
    feed = Feed(BREAKING, lag=timedelta(hours=2))  # a new consumer group replaying old snapshots
    assert feed(snap("s1", 1, 9, 10)) == []
    feed = Feed(BREAKING)
    assert feed(snap("s2", 1, 9, 10, status=StoryStatus.DORMANT)) == []


WATCH = """
- name: w
  kind: watch
  query: 'kremlin "drone attack"'
  language: en
  new_within: 2h
  grow_by: 5
"""


def test_watch_fires_for_a_new_matching_story() -> None:
    feed = Feed(WATCH)
    (alert,) = feed(snap("s1", 1, 1, 30))
    assert alert.reason == 'new story matching the watch: kremlin "drone attack"'
    assert feed(snap("s2", 1, 3, 30, label="Flood in Lisbon", top_articles=())) == []  # no match
    assert feed(snap("s3", 1, 3, 30, languages=("de",))) == []  # language filter


def test_watch_fires_for_an_old_story_that_grew_by_k() -> None:
    feed = Feed(WATCH)
    assert feed(snap("s1", 1, 3, 300)) == []  # matching, but first seen 5 h before: not new
    assert feed(snap("s1", 2, 7, 310)) == []  # +4
    (alert,) = feed(snap("s1", 3, 8, 320))  # +5
    assert "grew from 3 to 8 articles" in alert.reason


def test_watch_growth_by_factor() -> None:
    feed = Feed("- {name: w, kind: watch, query: kremlin, new_within: 1h, grow_factor: 3}")
    assert feed(snap("s1", 1, 2, 120)) == [] and feed(snap("s1", 2, 5, 130)) == []
    assert len(feed(snap("s1", 3, 6, 140))) == 1


VELOCITY = "- {name: v, kind: velocity, short_window: 30m, long_window: 6h, ratio: 3, min_articles: 5}"


def test_velocity_fires_when_the_short_rate_outruns_the_long_run_rate() -> None:
    feed = Feed(VELOCITY)
    # 1 article an hour for five hours: 0.5/h in any 30 min
    for h in range(6):
        assert feed(snap("s1", h + 1, h + 1, 60 * h)) == []
    assert feed(snap("s1", 7, 9, 320)) == []  # 3 in the last 30 min: below min_articles
    (alert,) = feed(snap("s1", 8, 12, 330))  # 6 in 30 min = 12/h vs 6 in the 5 h before
    assert alert.reason.startswith(
        "surging: 6 articles in the last 30 min (12.0/h) vs 1.2/h over the 5 h before (10.0x)"
    )
    assert alert.kind == "velocity"


def test_velocity_stays_quiet_for_steady_growth_and_for_brand_new_stories() -> None:
    feed = Feed(VELOCITY)
    for i in range(40):  # 10 articles per 30 min, steadily, for ten hours
        assert feed(snap("s1", i + 1, 10 * (i + 1), 15 * i)) == []
    assert feed(snap("s2", 1, 50, 10, first=0)) == []  # everything inside the short window: breaking's job


def test_a_merged_story_carries_its_alerts_into_the_absorbing_story() -> None:
    feed = Feed(BREAKING)
    assert len(feed(snap("b", 1, 5, 10))) == 1  # b alerted at size 5
    assert feed(snap("a", 1, 2, 10)) == []
    assert feed(snap("b", 2, 5, 12, status=StoryStatus.MERGED, merged_into="a")) == []
    assert feed(snap("a", 2, 8, 15, absorbed=("b",))) == []  # same event: no second first alert
    (up,) = feed(snap("a", 3, 10, 20, absorbed=("b",)))  # 2x the size of b's alert
    assert up.id == "brk/a/1" and "first alerted as story b, since merged into this one" in up.reason


def test_merge_history_is_carried_whichever_update_comes_first() -> None:
    feed = Feed(BREAKING)
    feed(snap("b", 1, 5, 10))
    assert feed(snap("a", 1, 8, 15, absorbed=("b",))) == []  # absorbing update first
    assert feed(snap("b", 2, 5, 16, status=StoryStatus.MERGED, merged_into="a")) == []
    assert feed.states["a"].carried == ("b",)
    assert feed(snap("a", 2, 9, 17, absorbed=("b",))) == []
    assert [a.level for a in feed(snap("a", 3, 10, 18, absorbed=("b",)))] == [1]


def test_same_input_same_alerts() -> None:
    rules = f"{BREAKING}\n{WATCH}\n{VELOCITY}"
    updates = [snap("s1", v, v * 2, v * 7) for v in range(1, 12)] + [snap("s2", 1, 6, 80)]

    def run() -> list[str]:
        feed = Feed(rules)
        return [a.model_dump_json() for u in updates for a in feed(u)]

    first = run()
    assert first == run() and len(first) >= 3


def test_size_at_reads_the_last_observation_before() -> None:
    st = StoryState(story_id="x", observations=((T0, 1), (T0 + timedelta(hours=1), 5)))

    def at(m: int) -> datetime:
        return T0 + timedelta(minutes=m)

    assert (st.size_at(at(-1)), st.size_at(at(0)), st.size_at(at(59)), st.size_at(at(60))) == (None, 1, 1, 5)
