"""`storywire alerts check` and `storywire alerts test`: render, never send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storywire.app.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
RULES = str(FIXTURES / "rules.yaml")
STORY = str(FIXTURES / "story.json")


def test_check_lists_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check", RULES]) == 0
    out = capsys.readouterr().out
    assert "rules.yaml: 3 rules OK" in out
    assert "breaking                 breaking  >= 4 articles from >= 3 sources within 60 min" in out
    assert 'watch-kremlin            watch     query: kremlin "drone attack"; new within 6 h' in out
    assert "[language=en]" in out and "surge                    velocity  rate over 30 min >= 4.0x" in out


def test_check_reports_a_malformed_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: surge, kind: velocity, ratio: fast}\n")
    assert main(["alerts", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"storywire: error: {bad}: rule 'surge' (rules[0]): field 'ratio': "
        "Input should be a valid number, unable to parse string as a number\n"
    )


def test_test_renders_what_the_rule_would_send(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "test", "breaking", "--rules", RULES, "--story-file", STORY, "--channel", "webhook"]) == 0
    out = capsys.readouterr().out
    first, rest = out.split("\n", 1)
    assert (
        first == "# rule 'breaking' fires for story s-kremlin-1: "
        "breaking: 5 articles from 4 sources in 20 min (at least 4 from 3 within 60 min)"
    )
    payload = json.loads(rest.split("\n", 1)[1])
    assert payload["blocks"][0]["text"]["text"] == "Breaking: Kremlin drone attack"


def test_test_shows_a_rule_that_would_not_fire(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "test", "surge", "--rules", RULES, "--story-file", STORY, "--channel", "email"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# rule 'surge' does NOT fire for story s-kremlin-1")
    assert "Subject: Surging: Kremlin drone attack" in out


def test_test_names_an_unknown_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "test", "nope", "--rules", RULES, "--story-file", STORY]) == 1
    assert "no rule named 'nope' (rules: breaking, watch-kremlin, surge)" in capsys.readouterr().err


def test_check_json_lists_each_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check", RULES, "--json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["kind"]) for r in rules] == [
        ("breaking", "breaking"),
        ("watch-kremlin", "watch"),
        ("surge", "velocity"),
    ]
    assert rules[0]["min_articles"] == 4 and rules[0]["window"] == "PT1H"
    assert rules[0]["summary"] == ">= 4 articles from >= 3 sources within 60 min"
