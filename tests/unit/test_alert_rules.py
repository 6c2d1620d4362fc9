"""Rules files: the example loads; every kind of mistake names the rule and the field."""

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from alert.errors import RulesError
from alert.query import Query
from alert.rules import BreakingRule, VelocityRule, WatchRule, load_rules, parse_rules
from devtools.samples import story

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def test_example_rules_file_loads() -> None:
    rules = load_rules(FIXTURES / "rules.yaml")
    breaking, watch, surge = rules.rules
    assert isinstance(breaking, BreakingRule) and breaking.window == timedelta(hours=1)
    assert isinstance(watch, WatchRule) and watch.language == ("en",) and watch.grow_factor == 2
    assert isinstance(surge, VelocityRule) and surge.channels == ("webhook",)
    assert breaking.escalate_at == (2.0, 5.0) and breaking.channels == ("webhook", "email")
    assert rules.history_horizon() == timedelta(hours=6)


def _error(text: str) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {name: b1, kind: breaking, min_articles: 3, min_sources: x, window: 1h}",
            "rules.yaml: rule 'b1' (rules[0]): field 'min_sources': Input should be a valid integer",
        ),
        (
            "rules:\n  - {name: ok, kind: watch, query: a}\n  - {name: v, kind: velocity, ratio: 0.5}",
            "rule 'v' (rules[1]): field 'ratio': Input should be greater than 1",
        ),
        ("rules:\n  - {name: w, kind: watch}", "rule 'w' (rules[0]): field 'query': Field required"),
        ("rules:\n  - {name: w, kind: watch, query: '\"\" ...'}", "field 'query'"),
        ("rules:\n  - {name: k, kind: brekaing}", "rule 'k' (rules[0]): field 'kind': must be one of breaking"),
        ("rules:\n  - {name: k}", "rule 'k' (rules[0]): field 'kind': missing"),
        ("rules:\n  - {name: w, kind: watch, query: a, windw: 1h}", "field 'windw': Extra inputs are not permitted"),
        ("rules:\n  - {name: b, kind: breaking, min_articles: 1, min_sources: 1, window: soon}", "field 'window'"),
        ("rules:\n  - {name: v, kind: velocity, short_window: 2h, long_window: 1h}", "long_window must be longer"),
        ("rules:\n  - {name: w, kind: watch, query: a, escalate_at: [5, 2]}", "escalate_at must be increasing"),
        ("rules:\n  - {name: w, kind: watch, query: a, channels: [pager]}", "field 'channels.0'"),
        ("rules:\n  - {name: 'bad name', kind: watch, query: a}", "field 'name'"),
        ("rules:\n  - {name: a, kind: watch, query: x}\n  - {name: a, kind: watch, query: y}", "duplicate of rules[0]"),
        ("rules:\n  - {kind: watch, query: x}", "rules[0]: field 'name': Field required"),
        ("rules:\n  - just a string", "rules[0]: expected a mapping"),
        ("rules: []", "'rules' must be a non-empty list"),
        ("rule:\n  - {name: a}", "expected a mapping with a 'rules' list"),
        ("rules:\n  - {name: a, kind: watch\n", "not valid YAML at line"),
    ],
)
def test_mistakes_name_the_rule_and_the_field(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_a_plain_list_and_short_forms_are_accepted() -> None:
    rules = parse_rules("- {name: w, kind: watch, query: drone, language: en, source: [a.example], tag: kremlin}")
    (w,) = rules.rules
    assert isinstance(w, WatchRule)
    assert (w.language, w.source, w.tag) == (("en",), ("a.example",), ("kremlin",))


_FIELDS = ["name", "kind", "query", "window", "min_articles", "min_sources", "ratio", "language", "escalate_at"]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["breaking", "watch", "velocity", "1h", "30m", "x"]),
    st.lists(st.integers(0, 6), max_size=3),
)


@given(st.one_of(st.text(max_size=200), st.lists(st.dictionaries(st.sampled_from(_FIELDS), _VALUES), max_size=3)))
def test_any_input_gives_a_ruleset_or_a_rules_error(doc: object) -> None:
    text = doc if isinstance(doc, str) else yaml.safe_dump({"rules": doc})
    with contextlib.suppress(RulesError):
        parse_rules(text)


def test_filters_language_source_tag_and_size() -> None:
    (rule,) = parse_rules(
        "- {name: w, kind: watch, query: drone, language: [EN], source: b.example, tag: kremlin, min_size: 2}"
    ).rules
    assert rule.passes_filters(story())
    assert not rule.passes_filters(story(languages=("de",)))
    assert not rule.passes_filters(story(sources=("c.example",)))
    assert not rule.passes_filters(story(keywords=("moscow",)))
    assert not rule.passes_filters(story(size=1))


def test_query_words_and_phrases() -> None:
    s = story(label="Kremlin drone attack", keywords=("moscow",))
    assert Query.parse("KREMLIN drone").matches(s)
    assert Query.parse('"drone attack" moscow').matches(s)
    assert Query.parse("drones hit").matches(s)  # from the top article's title
    assert not Query.parse('"attack drone"').matches(s)  # phrase order matters
    assert not Query.parse("kremlin kyiv").matches(s)  # every word is required
    assert not Query.parse("krem").matches(s)  # whole words, not prefixes
    assert Query.parse('kremlin "unclosed').matches(story(label="kremlin unclosed"))
    with pytest.raises(ValueError, match="no words"):
        Query.parse(' "" ,,, ')


def test_query_words_match_by_stem_and_without_accents_as_in_search() -> None:
    s = story(label="Drones hit Moscow", keywords=("séisme",), top_articles=())
    assert Query.parse("drone").matches(s)
    assert Query.parse("drone hits").matches(s)
    assert Query.parse("SEISME").matches(s)
    assert Query.parse('"drone hitting"').matches(s)
    assert not Query.parse("drone kremlin").matches(s)
    assert Query.parse("kremlin").matches(story(label="x", headline="Kremlin drone attack", top_articles=()))


@given(st.text(max_size=60))
def test_query_parse_raises_only_value_error_and_matches_its_own_words(text: str) -> None:
    try:
        query = Query.parse(text)
    except ValueError:
        return
    assert query.matches(story(label=text, keywords=(), top_articles=()))


def test_a_query_of_function_words_alone_still_matches_them() -> None:
    assert Query.parse("the").matches(story(label="The Fed", top_articles=()))
    assert Query.parse('"drone attack on moscow"').matches(story(label="Drone attack on Moscow", top_articles=()))
