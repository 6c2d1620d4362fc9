"""The alert engine: a pure function of rules, a story update and the story's history.

``Engine.process(story, states)`` takes one Story snapshot and the persisted
``StoryState`` of the stories it names (itself, the story it merged into, the
stories it absorbed) and returns the states to persist and the alerts to send.
It does no I/O; the clock is passed in. The same updates in the same order with
the same clock give the same alerts, with the same ids.

- An alert is decided once per (rule, story): the story's state keeps a ``Mark``
  per rule. Follow-ups (escalations) fire when the story reaches the rule's
  ``escalate_at`` factors of its size at the first alert; only the highest level
  reached is sent, and its reason says what changed since the last alert.
- Alert ids are ``rule/story/level``, so a resent alert is recognisably the same.
- A story version not newer than the last one seen is ignored (a redelivered
  record after a crash changes nothing).
- A merged story never alerts; its marks and its size history move into the
  story that absorbed it, so the absorbing story does not re-alert for the same
  event, and escalates from the earlier alert's size.
- Updates whose ``updated`` time is older than ``max_update_age`` refresh the
  history but never alert (a new consumer group replays the compacted topic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from alert.rules import BreakingRule, RuleSet, VelocityRule, WatchRule
from storywire.messages import Alert, Story, StoryStatus, UtcDatetime

AnyRule = BreakingRule | WatchRule | VelocityRule


class Mark(BaseModel):
    """What was last alerted for one rule on one story."""

    model_config = ConfigDict(frozen=True)

    level: int
    base_size: int  # the size at the first alert: escalation factors apply to it
    size: int
    sources: tuple[str, ...]
    label: str
    headlines: tuple[str, ...]  # ids of the top articles at the last alert
    at: UtcDatetime
    origin: str  # the story that got the first alert (differs after a merge)


class StoryState(BaseModel):
    """The engine's memory of one story, persisted between updates and restarts."""

    model_config = ConfigDict(frozen=True)

    story_id: str
    version: int = 0
    first_size: int | None = None  # size when Storywire's alerting first saw it
    observations: tuple[tuple[UtcDatetime, int], ...] = ()  # (updated, size), oldest first
    marks: dict[str, Mark] = {}
    merged_into: str | None = None
    carried: tuple[str, ...] = ()  # absorbed stories whose history is already in this one

    def size_at(self, when: datetime) -> int | None:
        """The story's size at ``when`` as last observed, or None before the first observation."""
        size = None
        for t, s in self.observations:
            if t > when:
                break
            size = s
        return size


@dataclass(frozen=True)
class Outcome:
    states: dict[str, StoryState] = field(default_factory=dict)  # to persist
    alerts: list[Alert] = field(default_factory=list)  # to send, in decision order
    ignored: str | None = None  # why the update changed nothing, if it did not


class Engine:
    def __init__(
        self,
        rules: RuleSet,
        clock: Callable[[], datetime],
        max_update_age: timedelta = timedelta(hours=1),
        max_observations: int = 500,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.max_update_age = max_update_age
        self.max_observations = max_observations
        self.horizon = rules.history_horizon()

    @staticmethod
    def needs(story: Story) -> set[str]:
        """The story ids whose state ``process`` wants for this update."""
        ids = {story.id, *story.absorbed}
        if story.merged_into:
            ids.add(story.merged_into)
        return ids

    def process(self, story: Story, states: Mapping[str, StoryState]) -> Outcome:
        own = states.get(story.id) or StoryState(story_id=story.id)
        if story.version <= own.version:
            return Outcome(ignored="not newer than the last version seen")
        if story.status is StoryStatus.MERGED and story.merged_into:
            own = own.model_copy(update={"version": story.version, "merged_into": story.merged_into})
            target = states.get(story.merged_into) or StoryState(story_id=story.merged_into)
            return Outcome(states={own.story_id: own, target.story_id: self._carry(target, own)})
        changed: dict[str, StoryState] = {}
        for absorbed_id in story.absorbed:
            absorbed = states.get(absorbed_id)
            if absorbed is not None and absorbed_id not in own.carried:
                own = self._carry(own, absorbed)
        own = self._observe(own, story)
        now = self.clock()
        alerts: list[Alert] = []
        ignored = None
        if story.status is not StoryStatus.ACTIVE:
            ignored = f"story is {story.status.value}"
        elif now - story.updated > self.max_update_age:
            ignored = "update too old to alert on"
        else:
            marks = dict(own.marks)
            for rule in self.rules.rules:
                decided = self._decide(rule, story, own, marks.get(rule.name), now)
                if decided is not None:
                    alert, marks[rule.name] = decided
                    alerts.append(alert)
            own = own.model_copy(update={"marks": marks})
        changed[own.story_id] = own
        return Outcome(states=changed, alerts=alerts, ignored=ignored)

    # -- history -------------------------------------------------------------

    def _observe(self, state: StoryState, story: Story) -> StoryState:
        obs = [o for o in state.observations if o[0] < story.updated] + [(story.updated, story.size)]
        cutoff = story.updated - self.horizon
        keep_from = max((i for i, (t, _) in enumerate(obs) if t <= cutoff), default=0)
        obs = obs[keep_from:][-self.max_observations :]
        return state.model_copy(
            update={
                "version": story.version,
                "first_size": state.first_size if state.first_size is not None else story.size,
                "observations": tuple(obs),
            }
        )

    @staticmethod
    def _carry(into: StoryState, src: StoryState) -> StoryState:
        """Fold an absorbed story's marks and size history into the absorbing story."""
        if src.story_id in into.carried:
            return into
        marks = dict(src.marks) | dict(into.marks)  # the absorbing story's own marks win
        times = sorted({t for t, _ in into.observations} | {t for t, _ in src.observations})
        obs = tuple((t, (into.size_at(t) or 0) + (src.size_at(t) or 0)) for t in times)
        first = into.first_size + (src.first_size or 0) if into.first_size is not None else None
        carried = tuple(dict.fromkeys((*into.carried, src.story_id, *src.carried)))
        return into.model_copy(update={"marks": marks, "observations": obs, "first_size": first, "carried": carried})

    # -- rules ---------------------------------------------------------------

    def _decide(
        self, rule: AnyRule, story: Story, state: StoryState, mark: Mark | None, now: datetime
    ) -> tuple[Alert, Mark] | None:
        if not rule.passes_filters(story):
            return None
        if isinstance(rule, WatchRule) and not rule.parsed.matches(story):
            return None
        if mark is None:
            reason = _fires(rule, story, state)
            if reason is None:
                return None
            level, base, origin = 0, story.size, story.id
        else:
            level = _level(rule.escalate_at, mark.base_size, story.size)
            if level <= mark.level:
                return None
            reason = what_changed(mark, story)
            base, origin = mark.base_size, mark.origin
        new_mark = Mark(
            level=level,
            base_size=base,
            size=story.size,
            sources=story.sources,
            label=story.label,
            headlines=tuple(a.id for a in story.top_articles),
            at=now,
            origin=origin,
        )
        alert = Alert(
            id=alert_id(rule.name, story.id, level),
            rule=rule.name,
            kind=rule.kind,
            story=story,
            reason=reason,
            level=level,
            time=now,
        )
        return alert, new_mark


def alert_id(rule: str, story_id: str, level: int) -> str:
    return f"{rule}/{story_id}/{level}"


def _level(factors: Iterable[float], base: int, size: int) -> int:
    return sum(1 for f in factors if size >= base * f)


def _fires(rule: AnyRule, story: Story, state: StoryState) -> str | None:
    """Why this rule fires for the first time on this story, or None."""
    if isinstance(rule, BreakingRule):
        age = story.updated - story.first_seen
        sources = _counted_sources(rule, story)
        if age > rule.window or story.size < rule.min_articles or len(sources) < rule.min_sources:
            return None
        return (
            f"breaking: {story.size} articles from {len(sources)} sources in {duration(age)} "
            f"(at least {rule.min_articles} from {rule.min_sources} within {duration(rule.window)})"
        )
    if isinstance(rule, WatchRule):
        # New in stream time: all its articles within ``new_within`` of the first. (The snapshot's
        # ``updated`` is the clusterer's clock: against it, a story of reports published a day
        # before they were read, or a replay of last year's news, was never new.)
        if story.last_seen - story.first_seen <= rule.new_within:
            return f"new story matching the watch: {rule.query}"
        base = state.first_size or story.size
        grown = story.size - base
        if (rule.grow_by is not None and grown >= rule.grow_by) or (
            rule.grow_factor is not None and story.size >= base * rule.grow_factor
        ):
            return f"story matching the watch grew from {base} to {story.size} articles: {rule.query}"
        return None
    return _velocity(rule, story, state)


def _counted_sources(rule: BreakingRule, story: Story) -> set[str]:
    sources = {s.casefold() for s in story.sources}
    return sources & {s.casefold() for s in rule.source} if rule.source else sources


def _velocity(rule: VelocityRule, story: Story, state: StoryState) -> str | None:
    short_start = story.updated - rule.short_window
    if story.first_seen >= short_start:
        return None  # the whole story is inside the short window: no longer run to compare with
    before_short = state.size_at(short_start)
    if before_short is None:
        return None  # not observed before the short window: its rate there is unknown
    recent = story.size - before_short
    if recent < rule.min_articles:
        return None
    long_start = story.updated - rule.long_window
    if long_start <= story.first_seen:
        long_start, before_long = story.first_seen, 0
    else:
        known = state.size_at(long_start)
        if known is None:  # history starts later: compare with what was observed
            long_start, before_long = state.observations[0]
        else:
            before_long = known
    span_h = (short_start - long_start).total_seconds() / 3600
    if span_h <= 0:
        return None
    rate_short = recent / (rule.short_window.total_seconds() / 3600)
    rate_long = (before_short - before_long) / span_h
    if rate_long > 0 and rate_short < rule.ratio * rate_long:
        return None
    times = f"{rate_short / rate_long:.1f}x" if rate_long > 0 else "up from none"
    return (
        f"surging: {recent} articles in the last {duration(rule.short_window)} ({rate_short:.1f}/h) "
        f"vs {rate_long:.1f}/h over the {duration(short_start - long_start)} before ({times})"
    )


def what_changed(mark: Mark, story: Story) -> str:
    """The reason of a follow-up alert: the story now against the last alert."""
    parts = [f"grew from {mark.size} to {story.size} articles ({story.size / mark.base_size:.1f}x the first alert)"]
    new_sources = [s for s in story.sources if s not in mark.sources]
    if new_sources:
        more = f" and {len(new_sources) - 5} more" if len(new_sources) > 5 else ""
        parts.append(f"{len(new_sources)} new sources: {', '.join(new_sources[:5])}{more}")
    if story.label != mark.label:
        parts.append(f'now "{story.label}" (was "{mark.label}")')
    fresh = [a.title for a in story.top_articles if a.id not in mark.headlines]
    if fresh:
        parts.append(f'new headline: "{fresh[0]}"')
    if mark.origin != story.id:
        parts.append(f"first alerted as story {mark.origin}, since merged into this one")
    return "; ".join(parts)


def duration(span: timedelta) -> str:
    secs = int(span.total_seconds())
    if secs < 120:
        return f"{secs}s"
    if secs < 7200:
        return f"{secs // 60} min"
    if secs < 172_800:
        hours, mins = divmod(secs // 60, 60)
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{secs // 86400} days"
