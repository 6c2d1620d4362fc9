"""Eval metrics and data loading, and the embed worker's batching rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enrich.embed_worker import Batcher
from enrich.eval import EvalError, bcubed, load_dataset, pairwise_f1, scores
from storywire.messages import TimePrecision


def test_bcubed_and_pairwise_on_a_known_case() -> None:
    gold = ["a", "a", "a", "b", "b"]
    pred = ["x", "x", "y", "y", "y"]
    p, r, f = bcubed(pred, gold)
    # precision: x holds 2 a (2/2 each); y holds 1 a and 2 b (1/3, 2/3, 2/3)
    assert p == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert r == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert f == pytest.approx(2 * p * r / (p + r))
    assert pairwise_f1(gold, gold) == 1.0
    perfect = scores(gold, gold)
    assert perfect["bcubed_f1"] == 1.0 and perfect["ami"] == pytest.approx(1.0)
    assert perfect["predicted_stories"] == perfect["true_stories"] == 2


def test_dataset_is_sorted_by_publication_and_errors_are_named(tmp_path: Path) -> None:
    rows = [
        {"id": "2", "event": "e", "title": "B", "text": "b", "published": "2024-01-02", "source": "s", "lang": "en"},
        {"id": "1", "event": "e", "title": "A", "text": "a", "published": "2024-01-01", "source": "s", "lang": "en"},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [it.article.id for it in load_dataset(path)] == ["1", "2"]
    path.write_text('{"id": "1"}\n')
    with pytest.raises(EvalError, match=r"set\.jsonl:1"):
        load_dataset(path)
    with pytest.raises(EvalError):
        load_dataset(tmp_path / "missing.jsonl")


def test_a_date_alone_is_known_to_the_day_and_a_time_to_the_second(tmp_path: Path) -> None:
    rows = [
        {"id": "d", "event": "e", "title": "A", "text": "a", "published": "2023-01-14", "source": "s"},
        {"id": "t", "event": "e", "title": "B", "text": "b", "published": "2023-01-14T09:30:00Z", "source": "s"},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = {it.article.id: it.article.published_precision for it in load_dataset(path)}
    assert got == {"d": TimePrecision.DAY, "t": TimePrecision.SECOND}


def test_batches_close_on_size_or_age_whichever_first() -> None:
    now = [0.0]
    b: Batcher[str] = Batcher(max_size=3, max_ms=500, clock=lambda: now[0])
    assert not b.ready() and b.wait_ms() == 500
    b.add(["r1"])
    now[0] = 0.2
    assert not b.ready() and b.wait_ms() == 300
    b.add(["r2", "r3"])
    assert b.ready() and b.room() == 0  # full before the deadline
    assert b.take() == ["r1", "r2", "r3"]
    b.add(["r4"])  # a trickle: one article waits at most max_ms
    now[0] = 0.69
    assert not b.ready()
    now[0] = 0.71
    assert b.ready() and b.take() == ["r4"]
