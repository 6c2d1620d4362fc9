"""Clustering quality on the labelled development set, with floors that only go up.

The set lives outside the repository (../shared/eval/dev.jsonl); the test skips when it
is absent. Floors are what the clusterer reached when they were set (B-cubed F1 0.977
with real dates, 0.944 with every article on one day), less a hair for float noise.
Raise them when the clusterer improves; never lower them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich.eval import evaluate
from storywire.config import ModelSettings
from storywire.embedder import load_embedder

pytestmark = pytest.mark.quality

FLOORS = {
    "dated": {"bcubed_f1": 0.975, "bcubed_precision": 0.99, "ami": 0.97},
    "concurrent": {"bcubed_f1": 0.94, "bcubed_precision": 0.935, "ami": 0.935},
}


def test_dev_set_quality_in_both_modes(shared_dir: Path) -> None:
    dataset = shared_dir / "eval" / "dev.jsonl"
    if not dataset.is_file():
        pytest.skip("../shared/eval/dev.jsonl is not present")
    embedder = load_embedder(ModelSettings())
    report = evaluate(dataset, embedder.encode, embedder.name, with_references=False)
    for mode, floors in FLOORS.items():
        got = report[mode]["storywire"]
        for metric, floor in floors.items():
            assert got[metric] >= floor, (mode, metric, got)
