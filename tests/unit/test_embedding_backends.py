"""The ONNX backends against the reference (sentence-transformers on torch), text by text.

Real model, real export (into the user's cache, made once and reused): ``onnx`` must give
torch's vectors (cosine 0.99999 per text), ``onnx-int8`` vectors close to them (cosine
0.97 per text, 0.99 on average); neither may bring torch into the process that holds the
graph; the index writer's vector size comes from the configuration files alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from storywire.config import ModelSettings
from storywire.embedder import Embedder, SentenceTransformerEmbedder, load_embedder, model_dim

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "Storm leaves thousands without power as rivers rise across the north",
    "Fire at Helix Dynamics depot in Marvenos injures 14. Firefighters fought the blaze for 6 hours, officials said.",
    "CENTRAL BANK RAISES RATES AGAIN",
    "   leading and trailing spaces are stripped, as sentence-transformers does   ",
    "Le gouvernement annonce un plan d'aide aux agriculteurs touchés par la sécheresse.",
    "Землетрясение магнитудой 6,8 произошло у побережья",
    "短い見出し",
    "x",
    "",
    "Budget 2025: €1.2bn for 3,400 new nurses — 'not enough', unions say (update 2)",
    # Longer than the model's 256 tokens: truncated the same way.
    " ".join(
        f"Paragraph {i} of a very long article about the flood in the valley and its aftermath." for i in range(60)
    ),
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2").encode(TEXTS)


@pytest.fixture(scope="module")
def onnx() -> Embedder:
    return load_embedder(ModelSettings(backend="onnx", threads=2))


@pytest.fixture(scope="module")
def onnx_int8() -> Embedder:
    return load_embedder(ModelSettings(backend="onnx-int8", threads=2))


def test_onnx_gives_torchs_vectors(onnx: Embedder, torch_vectors: np.ndarray) -> None:
    got = onnx.encode(TEXTS)
    assert got.shape == torch_vectors.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.99999, cosine


def test_onnx_int8_stays_close_to_torch(onnx_int8: Embedder, torch_vectors: np.ndarray) -> None:
    got = onnx_int8.encode(TEXTS)
    assert got.shape == torch_vectors.shape
    cosine = (got * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.97 and cosine.mean() >= 0.99, cosine
    # Different texts stay different: the quantized model is not collapsing them.
    assert float(got[0] @ got[2]) < 0.9


def test_a_vector_does_not_depend_on_its_batch(onnx_int8: Embedder) -> None:
    alone = onnx_int8.encode([TEXTS[1]])[0]
    together = onnx_int8.encode([TEXTS[-1], TEXTS[1], TEXTS[0]])[1]
    assert np.array_equal(alone, together)  # one text per run: same bits, whatever the batch


def test_no_texts_give_no_rows(onnx_int8: Embedder) -> None:
    assert onnx_int8.encode([]).shape == (0, onnx_int8.dim)


def test_vector_size_from_the_config_files(onnx: Embedder, tmp_path: Path) -> None:
    assert model_dim("all-MiniLM-L6-v2") == onnx.dim == 384
    # A model with a Dense module after pooling: its out_features, read without weights.
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 768}))
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True})
    )
    (tmp_path / "2_Dense" / "config.json").write_text(json.dumps({"in_features": 768, "out_features": 256}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert model_dim(str(tmp_path)) == 256
    (tmp_path / "modules.json").unlink()
    assert model_dim(str(tmp_path)) == 768  # a plain transformer: its hidden size


def _child(code: str) -> dict[str, object]:
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_a_process_holding_the_onnx_model_never_imports_torch() -> None:
    got = _child(
        "import json, sys\n"
        "from storywire.config import ModelSettings\n"
        "from storywire.embedder import load_embedder\n"
        "e = load_embedder(ModelSettings(backend='onnx-int8'))\n"
        "e.encode(['a text', 'another text'])\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'transformers', 'sentence_transformers')}))\n"
    )
    assert got == {"torch": False, "transformers": False, "sentence_transformers": False}


def test_the_index_writer_takes_the_vector_size_without_loading_the_model() -> None:
    got = _child(
        "import json, sys\n"
        "from index.cli import _dims\n"
        "from index.settings import IndexSettings\n"
        "from storywire.config import Settings, defaults\n"
        "dims = _dims(Settings.load(), defaults(IndexSettings))\n"
        "loaded = {m: m in sys.modules for m in ('torch', 'onnxruntime')}\n"
        "print(json.dumps({'dims': dims, **loaded}))\n"
    )
    assert got == {"dims": 384, "torch": False, "onnxruntime": False}
