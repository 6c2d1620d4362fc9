"""The dead-letter tool's pure parts: reading the provenance headers, naming and selecting letters, destinations."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from storywire.app.dlq import DlqError, destination, from_record, parse_id, select


@dataclass
class Rec:
    partition: int
    offset: int
    key: bytes | None = b"k"
    value: bytes | None = b"{not json"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def _headers(topic: str = "p.articles.raw", stage: str = "embed", **more: str) -> list[tuple[str, bytes]]:
    base = {"topic": topic, "partition": "2", "offset": "41", "error": "not JSON", "error_type": "MalformedMessage"}
    base |= {"stage": stage, "time": "2026-03-01T10:00:00+00:00"} | more
    return [(f"storywire.{k}", v.encode()) for k, v in base.items()] + [("other", b"x")]


def test_a_record_reads_as_a_dead_letter_with_its_origin() -> None:
    d = from_record(Rec(1, 7, headers=_headers()))
    assert (d.id, d.topic, d.partition, d.offset, d.stage, d.error_type) == (
        "1:7", "p.articles.raw", 2, 41, "embed", "MalformedMessage"
    )  # fmt: skip
    assert d.truncated_from is None
    js = d.as_json()
    assert js["value"] == "{not json" and js["key"] == "k" and js["bytes"] == 9 and js["id"] == "1:7"


def test_a_record_without_headers_or_value_still_reads() -> None:
    d = from_record(Rec(0, 0, key=None, value=None, headers=[]))
    assert (d.topic, d.partition, d.value, d.as_json()["key"]) == ("", None, b"", None)


def test_ids_parse_as_partition_colon_offset() -> None:
    assert parse_id("2:15") == (2, 15)
    for bad in ("15", "a:b", "-1:3", "1:"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_id(bad)


def test_select_by_id_stage_and_topic() -> None:
    letters = [
        from_record(Rec(0, 1, headers=_headers(stage="embed"))),
        from_record(Rec(0, 2, headers=_headers(stage="index", topic="p.articles.enriched"))),
        from_record(Rec(1, 1, headers=_headers(stage="index", topic="p.stories"))),
    ]
    assert [d.id for d in select(letters)] == ["0:1", "0:2", "1:1"]
    assert [d.id for d in select(letters, ids=[(1, 1), (0, 1)])] == ["0:1", "1:1"]
    assert [d.id for d in select(letters, stage="index")] == ["0:2", "1:1"]
    assert [d.id for d in select(letters, stage="index", topic="p.stories")] == ["1:1"]


def test_destination_is_the_original_pipeline_topic_unless_told_otherwise() -> None:
    allowed = {"p.articles.raw", "p.stories"}
    d = from_record(Rec(0, 1, headers=_headers()))
    assert destination(d, allowed, None) == "p.articles.raw"
    assert destination(d, allowed, "elsewhere") == "elsewhere"
    foreign = from_record(Rec(0, 2, headers=_headers(topic="other.topic")))
    with pytest.raises(DlqError, match="not a topic of this pipeline"):
        destination(foreign, allowed, None)
    cut = from_record(Rec(0, 3, headers=_headers(truncated_from="2000000")))
    with pytest.raises(DlqError, match="cannot be replayed"):
        destination(cut, allowed, "elsewhere")
