"""The ONNX backends: the model's exported graph on onnxruntime, without torch in the process.

``OnnxEmbedder.load(ModelSettings)`` finds the graph for the configured model and backend
in the cache (``<cache>/models/<model>-<backend>-<key>/``) or has it made once by
``python -m storywire.onnx_export`` in a child process (torch lives and dies there), and
loads it with the model's own tokenizer (the ``tokenizers`` fast tokenizer transformers
builds for the model, saved beside the graph), and the pooling, normalisation and maximum
sequence length of its sentence-transformers configuration (``manifest.json``).

The cache entry's key is a hash of the model's files (their SHA-256), the backend, the
export recipe and the onnxruntime version; the manifest holds the SHA-256 of the graph and
of the tokenizer, checked at every load. A missing or damaged entry is made again.
Exporters of the same entry wait for each other on a lock file, write into a temporary
folder and rename it into place, so concurrent starts never see half an entry.

One text per run: no padding, and an article's vector never depends on which other
articles shared its batch (dynamic int8 quantization scales a whole input tensor, so in a
padded batch it would). Runs of separate texts go to ``threads`` worker threads, each
running the graph on one core (onnxruntime lets go of the GIL); with texts of news length
(about 130 tokens) this measured faster than batches of 4 to 32 on one core, and than one
text on two intra-op threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from storywire.config import ModelSettings, cache_dir
from storywire.embedder import EmbedderError, ExportError, Vectors, cpu_threads, file_sha256, model_dir

log = logging.getLogger(__name__)

# Bump when what the exporter writes changes, so that old entries are not reused.
EXPORT_FORMAT = 1
EXPORT_TIMEOUT_S = 900.0
POOLING_MODES = ("cls", "mean", "max", "mean_sqrt_len_tokens")

# How each backend's graph is made (storywire.onnx_export follows it; part of the cache key).
# The int8 recipe was chosen by measurement (enrich/README.md, "Embedding backends"): the
# transformer optimizer's BERT fusions (embedding + LayerNorm, attention, bias + GELU,
# residual + LayerNorm) first, then dynamic int8 with per-channel weights on every matrix
# product, the fused attention's included. Per-tensor weights cost far more accuracy (cosine
# to torch down to 0.76); the attention left in float32 was slower for no gain. Without the
# residual + LayerNorm fusion it ran 22% faster, but its vectors (as close to torch's) moved
# one decision of the clusterer across its threshold (dev.jsonl one-day F1 -0.054): see
# the README before changing the recipe, and run tests/quality/test_embedding_backends.py.
RECIPES: dict[str, dict[str, Any]] = {
    "onnx": {"opset": 17, "attention": "eager", "fusion": None, "quantize": None},
    "onnx-int8": {
        "opset": 17,
        "attention": "eager",
        "fusion": "bert",
        "quantize": {"mode": "dynamic", "weights": "QInt8", "per_channel": True, "ops": ["MatMul", "Attention"]},
    },
}


def models_dir(settings: ModelSettings) -> Path:
    return Path(settings.cache_dir) if settings.cache_dir else cache_dir() / "models"


def source_files(folder: Path) -> list[Path]:
    """The files of a model folder that decide its vectors: every top-level file but READMEs,
    and the folders of its sentence-transformers modules (not ``onnx/`` or ``openvino/``
    copies some hub models carry)."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"]
    modules = folder / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            sub = folder / str(module.get("path", ""))
            if sub != folder and sub.is_dir():
                files += [p for p in sub.rglob("*") if p.is_file()]
    return sorted(files)


def entry_key(folder: Path, backend: str, recipe: dict[str, Any]) -> str:
    """The cache key of a model folder's graph for a backend: its files' digests, the recipe, the runtime."""
    import hashlib

    import onnxruntime

    parts = {
        "format": EXPORT_FORMAT,
        "backend": backend,
        "recipe": recipe,
        "onnxruntime": onnxruntime.__version__,
        "files": {str(p.relative_to(folder)): file_sha256(p) for p in source_files(folder)},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def entry_path(settings: ModelSettings, key: str) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.name)[-60:]
    return models_dir(settings) / f"{slug}-{settings.backend}-{key[:16]}"


def read_entry(path: Path, key: str) -> dict[str, Any] | None:
    """The entry's manifest if the entry is complete and intact (its key and files' digests), else None."""
    try:
        manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key:
        return None
    for name, digest in manifest.get("sha256", {}).items():
        file = path / name
        if not file.is_file() or file_sha256(file) != digest:
            log.warning("model cache entry damaged; making it again", extra={"entry": str(path), "file": name})
            return None
    return manifest


@contextlib.contextmanager
def _locked(lock: Path, timeout_s: float) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ExportError(f"{lock}: another process has been exporting for {timeout_s:.0f} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_entry(settings: ModelSettings) -> tuple[Path, dict[str, Any]]:
    """The cache entry for the configured model and backend, exported first if missing or damaged."""
    folder = model_dir(settings.name)
    key = entry_key(folder, settings.backend, RECIPES[settings.backend])
    path = entry_path(settings, key)
    manifest = read_entry(path, key)
    if manifest is not None:
        return path, manifest
    with _locked(path.with_name(path.name + ".lock"), EXPORT_TIMEOUT_S):
        manifest = read_entry(path, key)  # another process may have made it while we waited
        if manifest is not None:
            return path, manifest
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            _run_exporter(settings, folder, key, tmp)
            manifest = read_entry(tmp, key)
            if manifest is None:
                raise ExportError(f"the exporter wrote an incomplete entry in {tmp}")
            if path.exists():
                shutil.rmtree(path)  # damaged: we hold the lock, nobody else writes it
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path, manifest


def _run_exporter(settings: ModelSettings, folder: Path, key: str, out: Path) -> None:
    log.info(
        "exporting the embedding model to ONNX (once per model and backend)",
        extra={"model": settings.name, "backend": settings.backend, "entry": str(out.parent)},
    )
    started = time.monotonic()
    argv = [sys.executable, "-m", "storywire.onnx_export", "--model", str(folder), "--name", settings.name]
    argv += ["--backend", settings.backend, "--key", key, "--out", str(out)]
    env = dict(os.environ) | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExportError(f"exporting {settings.name} took more than {EXPORT_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"exporting {settings.name!r} for {settings.backend} failed: {tail[0]}")
    log.info("model exported", extra={"model": settings.name, "seconds": round(time.monotonic() - started, 1)})


class OnnxEmbedder:
    """An exported sentence-transformers model on onnxruntime's CPU provider."""

    def __init__(self, name: str, backend: str, path: Path, manifest: dict[str, Any], threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name, self.backend, self.path = name, backend, path
        self.dim = int(manifest["dim"])
        self.pooling = str(manifest["pooling"])
        self.normalize = bool(manifest["normalize"])
        self.lower = bool(manifest.get("do_lower_case", False))
        if self.pooling not in POOLING_MODES:
            raise ExportError(f"{name}: pooling {self.pooling!r} is not one the ONNX backends run")
        options = ort.SessionOptions()
        # One thread per run; separate texts run on separate threads (see the module docstring).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initializers are not ours to fix
        try:
            self.session = ort.InferenceSession(str(path / "model.onnx"), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise EmbedderError(f"onnxruntime cannot load {path / 'model.onnx'}: {exc}") from exc
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(manifest["max_seq_length"]))
        self.tokenizer.no_padding()
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed") if self.threads > 1 else None

    @classmethod
    def load(cls, settings: ModelSettings) -> OnnxEmbedder:
        path, manifest = ensure_entry(settings)
        return cls(settings.name, settings.backend, path, manifest, cpu_threads(settings))

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Vectors:
        """One L2-normalised float32 row per text (``batch_size`` is ignored: one text per run)."""
        cleaned = [t.strip().lower() if self.lower else t.strip() for t in texts]
        if not cleaned:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(cleaned)
        if self._pool is not None and len(encodings) > 1:
            rows = list(self._pool.map(self._one, encodings))
        else:
            rows = [self._one(e) for e in encodings]
        return np.stack(rows)

    def _one(self, enc: Any) -> Vectors:
        ids = np.asarray([enc.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        feed["token_type_ids"] = np.asarray([enc.type_ids], dtype=np.int64)
        hidden = self.session.run(None, {k: feed[k] for k in self.inputs})[0][0].astype(np.float32)
        return pool_tokens(hidden, self.pooling, self.normalize)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def pool_tokens(hidden: Vectors, mode: str, normalize: bool) -> Vectors:
    """One text's token vectors (no padding) to its sentence vector, as sentence-transformers pools them."""
    if mode == "cls":
        vec = hidden[0]
    elif mode == "max":
        vec = hidden.max(axis=0)
    elif mode == "mean_sqrt_len_tokens":
        vec = hidden.sum(axis=0) / np.sqrt(len(hidden))
    else:
        vec = hidden.mean(axis=0)
    out: Vectors = vec.astype(np.float32)
    if normalize:
        out = out / np.float32(max(float(np.linalg.norm(out)), 1e-12))
    return out
