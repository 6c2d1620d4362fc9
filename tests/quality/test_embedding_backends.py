"""The clustering figures of each ONNX backend, the default included, against torch's: on both
labelled development sets, in every arrival order ``storywire eval`` replays, the B-cubed
F1 may differ from the reference's (sentence-transformers on torch, float32) by 0.005 at most.

A faster backend is only the default if it keeps the stories the reference makes; this is
the guard (storywire.embedder's docstring, enrich/README.md "Embedding backends"). The
torch vectors are computed once per set for the whole run. Skips when ../shared/eval is
absent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from enrich.eval import evaluate
from storywire.config import ModelSettings, defaults
from storywire.embedder import Embedder, SentenceTransformerEmbedder, load_embedder

pytestmark = pytest.mark.quality

MAX_F1_DELTA = 0.005
DEFAULT = defaults(ModelSettings).backend
BACKENDS = sorted({"onnx", "onnx-int8", DEFAULT} - {"torch"})


@functools.cache
def _torch() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@functools.cache
def _backend(name: str) -> Embedder:
    return load_embedder(ModelSettings.model_validate({"backend": name}))


@functools.cache
def _torch_report(dataset: Path) -> dict[str, Any]:
    return evaluate(dataset, _torch().encode, "torch", with_references=False)


def _f1(report: dict[str, Any]) -> dict[str, float]:
    return {order: float(entry["storywire"]["bcubed_f1"]) for order, entry in report.items() if "storywire" in entry}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["dev.jsonl", "dev2.jsonl"])
def test_backend_keeps_torchs_clustering_figures(shared_dir: Path, name: str, backend: str) -> None:
    dataset = shared_dir / "eval" / name
    if not dataset.is_file():
        pytest.skip(f"../shared/eval/{name} is not present")
    reference = _f1(_torch_report(dataset))
    embedder = _backend(backend)
    got = _f1(evaluate(dataset, embedder.encode, backend, with_references=False))
    assert set(got) == set(reference) and len(got) >= 4  # every arrival order the eval has
    delta = {order: round(got[order] - reference[order], 4) for order in got}
    assert all(abs(d) <= MAX_F1_DELTA for d in delta.values()), (name, backend, delta, got, reference)


def test_the_default_is_a_backend_this_file_guards() -> None:
    assert DEFAULT in BACKENDS or DEFAULT == "torch"
