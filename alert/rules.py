"""Alert rules: a YAML file validated on load into typed, frozen rule models.

    rules:
      - name: breaking-en            # unique; part of every alert id
        kind: breaking               # N articles from M distinct sources within T
        min_articles: 6
        min_sources: 4
        window: 1h                   # 90s, 30m, 2h, 1d or plain seconds
        language: [en]               # every kind: language, source, tag, min_size
      - name: watch-kremlin
        kind: watch                  # a saved search gets a new or growing story
        query: 'kremlin "drone attack"'
        new_within: 6h
        grow_by: 10                  # ... or grew by 10 articles
        grow_factor: 2               # ... or doubled, since Storywire first saw it
      - name: surge
        kind: velocity               # short-window rate vs the story's longer-run rate
        short_window: 30m
        long_window: 6h
        ratio: 4
        min_articles: 5
        escalate_at: [2, 5]          # follow-ups at 2x and 5x the size at first alert
        channels: [webhook]          # default: webhook and email; the topic always

A mistake raises RulesError naming the file, the rule and the field, e.g.
``rules.yaml: rule 'surge' (rules[2]): field 'ratio': Input should be greater than 1``.
The tag filter matches the story's keywords: a Story snapshot carries no article tags.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from alert.errors import RulesError
from alert.query import Query
from storywire.messages import Story

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_MAX_DURATION_S = 366 * 86400  # a rule's window or age of a year or more is a typo, not a rule


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError("expected a duration like 90s, 30m, 2h, 1d")
        value = float(m.group(1)) * _UNIT[m.group(2)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not value <= _MAX_DURATION_S:  # also NaN
            raise ValueError("a duration of at most 366 days")
        return timedelta(seconds=value)
    return value


def _str_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration), Field(gt=timedelta(0))]
Names = Annotated[tuple[str, ...], BeforeValidator(_str_list)]
Channel = Literal["webhook", "email"]


class RuleBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    language: Names = ()
    source: Names = ()
    tag: Names = ()
    min_size: int = Field(default=1, ge=1)
    escalate_at: tuple[Annotated[float, Field(gt=1)], ...] = (2.0, 5.0)
    channels: Annotated[tuple[Channel, ...], BeforeValidator(_str_list)] = ("webhook", "email")

    @model_validator(mode="after")
    def _escalation_grows(self) -> RuleBase:
        if list(self.escalate_at) != sorted(set(self.escalate_at)):
            raise ValueError("escalate_at must be increasing factors, e.g. [2, 5]")
        return self

    def passes_filters(self, story: Story) -> bool:
        """The filters every kind shares; an empty filter lets everything through."""
        if story.size < self.min_size:
            return False
        if self.language and not _overlap(self.language, story.languages):
            return False
        if self.source and not _overlap(self.source, story.sources):
            return False
        return not self.tag or _overlap(self.tag, story.keywords)


class BreakingRule(RuleBase):
    kind: Literal["breaking"]
    min_articles: int = Field(ge=1)
    min_sources: int = Field(ge=1)
    window: Duration


class WatchRule(RuleBase):
    kind: Literal["watch"]
    query: str
    new_within: Duration = timedelta(hours=6)
    grow_by: int | None = Field(default=None, ge=1)
    grow_factor: float | None = Field(default=None, gt=1)

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        Query.parse(value)  # ValueError -> a validation error naming the field
        return value

    @property
    def parsed(self) -> Query:
        return Query.parse(self.query)


class VelocityRule(RuleBase):
    kind: Literal["velocity"]
    short_window: Duration = timedelta(minutes=30)
    long_window: Duration = timedelta(hours=6)
    ratio: float = Field(default=3.0, gt=1)
    min_articles: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _windows(self) -> VelocityRule:
        if self.long_window <= self.short_window:
            raise ValueError("long_window must be longer than short_window")
        return self


Rule = Annotated[BreakingRule | WatchRule | VelocityRule, Field(discriminator="kind")]
_RULE: TypeAdapter[BreakingRule | WatchRule | VelocityRule] = TypeAdapter(Rule)


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    rules: tuple[BreakingRule | WatchRule | VelocityRule, ...]

    def get(self, name: str) -> BreakingRule | WatchRule | VelocityRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def history_horizon(self) -> timedelta:
        """How far back the engine must remember a story's sizes for these rules."""
        spans = [r.long_window for r in self.rules if isinstance(r, VelocityRule)]
        return max(spans, default=timedelta(hours=1))


def _overlap(wanted: tuple[str, ...], have: tuple[str, ...]) -> bool:
    return bool({w.casefold() for w in wanted} & {h.casefold() for h in have})


def load_rules(path: Path) -> RuleSet:
    """Read and validate a rules file; raise RulesError (never anything else) on a mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc}") from exc
    return parse_rules(text, str(path))


def parse_rules(text: str, origin: str = "<rules>") -> RuleSet:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise RulesError(f"{origin}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from exc
    if isinstance(doc, list):
        items: Any = doc
    elif isinstance(doc, dict) and set(doc) <= {"rules"}:
        items = doc.get("rules")
    else:
        raise RulesError(f"{origin}: expected a mapping with a 'rules' list (or a list of rules)")
    if not isinstance(items, list) or not items:
        raise RulesError(f"{origin}: 'rules' must be a non-empty list")
    rules = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        label = _rule_label(item, i)
        if not isinstance(item, dict):
            raise RulesError(f"{origin}: {label}: expected a mapping of fields, got {type(item).__name__}")
        try:
            rule = _RULE.validate_python(item)
        except ValidationError as exc:
            raise RulesError(f"{origin}: {label}: {_first_error(exc)}") from exc
        if rule.name in seen:
            raise RulesError(f"{origin}: {label}: field 'name': duplicate of rules[{seen[rule.name]}]")
        seen[rule.name] = i
        rules.append(rule)
    return RuleSet(rules=tuple(rules))


def _rule_label(item: object, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"rule {name!r} (rules[{index}])" if isinstance(name, str) else f"rules[{index}]"


def _first_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err["loc"] if p not in ("breaking", "watch", "velocity")]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            msg = "must be one of breaking, watch, velocity"
            loc = ["kind"]
        elif err["type"] == "union_tag_not_found":
            msg = "missing (one of breaking, watch, velocity)"
            loc = ["kind"]
        field = f"field '{'.'.join(loc)}'" if loc else "rule"
        parts.append(f"{field}: {msg}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
