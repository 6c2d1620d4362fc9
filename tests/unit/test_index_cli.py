"""The index CLI's argument parsing and its plain-text tables (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.samples import T0, enriched, story
from index.documents import article_doc, story_action
from index.settings import IndexSettings, crc_checks
from search.query import ArticlePage, Bucket, StoryDetail, StoryPage, TimeBucket, article_hit, story_hit
from search.render import articles_table, stories_table, story_text, table
from storywire.app.cli import build_parser


def test_search_arguments() -> None:
    args = build_parser().parse_args(
        [
            "search",
            "kremlin drone",
            "--json",
            "--source",
            "a",
            "--source",
            "b",
            "--from",
            "2023-05-01",
            "--sort",
            "growth",
        ]
    )
    assert (args.query, args.json, args.source, args.sort) == ("kremlin drone", True, ["a", "b"], "growth")
    assert args.start == datetime(2023, 5, 1, tzinfo=UTC)
    assert build_parser().parse_args(["story", "s1"]).story_id == "s1"
    assert build_parser().parse_args(["articles", "x", "--story", "s1"]).story == "s1"
    assert build_parser().parse_args(["index", "migrate", "--delete-old"]).delete_old is True
    assert build_parser().parse_args(["api", "--port", "9000"]).port == 9000


def test_bad_time_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "x", "--from", "yesterday"])
    assert "not an ISO 8601 time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "x", "--page", "0"])
    assert "--page: must be at least 1" in capsys.readouterr().err


def test_tables() -> None:
    assert table(["a", "bb"], [["1", "2"]]).splitlines() == ["a  bb", "-  --", "1  2"]
    hit = story_hit(story_action("p", story("s1", 2))[1])
    out = stories_table(StoryPage(total=1, page=1, size=20, results=(hit,)))
    assert "Kremlin drone attack" in out and "1 shown of 1" in out
    arts = ArticlePage(total=1, page=1, size=20, results=(article_hit(article_doc(enriched(1))),))
    assert "Drones hit the Kremlin, report 1" in articles_table(arts)
    detail = StoryDetail(
        story=hit,
        articles=arts,
        sources=(Bucket(key="news.example", count=1),),
        interval="1h",
        histogram=(TimeBucket(start=T0, count=1), TimeBucket(start=T0 + timedelta(hours=1), count=0)),
    )
    text = story_text(detail)
    assert "2 articles from 2 sources" in text and "news.example" in text and "#" in text
    assert stories_table(StoryPage(total=0, page=1, size=20, results=())).startswith("no stories found")


def test_crc_setting_wins_over_detection() -> None:
    assert crc_checks(IndexSettings(check_crcs=True)) is True
    assert crc_checks(IndexSettings(check_crcs=False)) is False


def test_story_text_shows_dates_for_date_only_reports_and_a_timeline_sized_to_the_span() -> None:
    from search.query import histogram_interval

    hit = story_hit(story_action("p", story("s1", 2))[1])
    dated = article_hit(article_doc(enriched(1, published=T0, published_precision="day")))
    arts = ArticlePage(total=1, page=1, size=20, results=(dated,))
    assert T0.strftime("%Y-%m-%d") + " " in articles_table(arts)
    assert T0.strftime("%Y-%m-%d %H:%M") not in articles_table(arts)
    two_days = histogram_interval(T0, T0 + timedelta(days=2))
    buckets = tuple(TimeBucket(start=T0 + timedelta(days=i), count=c) for i, c in enumerate([0, 3, 0, 2, 0]))
    detail = StoryDetail(story=hit, articles=arts, sources=(), interval=two_days, histogram=buckets)
    rows = [line for line in story_text(detail).splitlines() if line.startswith("  20")]
    assert two_days == "1d"
    assert len(rows) == 3  # first to last bucket with articles, one per day
    assert rows[0].split()[0] == (T0 + timedelta(days=1)).strftime("%Y-%m-%d")
