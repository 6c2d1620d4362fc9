"""Golden feeds: real-world-shaped files with the Articles we expect beside them.

Each ``tests/fixtures/feeds/<name>.expected.json`` names the URL the file is served
from, its response headers, and the expected feed summary and Articles. To review a
change in output, run with STORYWIRE_GOLDEN_WRITE=1, read the diff, and commit it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.feeds import FeedSpec
from ingest.parse import ParsedFeed, parse_feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FETCHED = datetime(2023, 5, 4, 12, 0, tzinfo=UTC)
CASES = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def summary(parsed: ParsedFeed) -> dict[str, Any]:
    return {
        "title": parsed.title,
        "hint_s": parsed.hint_s,
        "bozo": parsed.bozo is not None,
        "entries": parsed.entries,
        "duplicates": parsed.duplicates,
        "adapter_errors": [str(e) for e in parsed.errors],
        "articles": [a.model_dump(mode="json") for a in parsed.articles],
    }


def test_every_fixture_has_expectations() -> None:
    feeds = {p.name for p in FIXTURES.iterdir() if not p.name.endswith(".expected.json")}
    assert feeds and all(any(f.startswith(c + ".") for c in CASES) for f in feeds), feeds


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    expected_path = FIXTURES / f"{case}.expected.json"
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    body = next(p for p in FIXTURES.glob(case + ".*") if not p.name.endswith(".expected.json")).read_bytes()
    spec = FeedSpec.model_validate(expected["spec"])
    parsed = parse_feed(body, expected["url"], expected["headers"], spec, FETCHED)
    got = summary(parsed)
    if os.environ.get("STORYWIRE_GOLDEN_WRITE") == "1":
        expected |= got
        expected_path.write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for key in got:
        assert got[key] == expected[key], key
