"""The ONNX backends' cache: keyed by the model's files, checked by hash, made once under a lock.

The exporter itself (a child process with torch) is exercised by test_embedding_backends;
here a stand-in writes entries, so that the cache's rules are tested quickly: one export
for concurrent loaders, a damaged entry made again, a changed model under a new key, no
half-written entry ever visible.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from storywire import onnx_embedder
from storywire.config import ModelSettings
from storywire.embedder import ExportError, file_sha256
from storywire.onnx_embedder import RECIPES, ensure_entry, entry_key, read_entry


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "weights.bin").write_bytes(b"\x00" * 64)
    (folder / "README.md").write_text("not part of the key")
    (folder / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 8}')
    modules = [{"path": "", "type": "x.Transformer"}, {"path": "1_Pooling", "type": "x.Pooling"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def test_the_key_follows_the_files_that_decide_the_vectors(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    key = entry_key(folder, "onnx-int8", RECIPES["onnx-int8"])
    assert key == entry_key(folder, "onnx-int8", RECIPES["onnx-int8"])
    assert key != entry_key(folder, "onnx", RECIPES["onnx"])
    (folder / "README.md").write_text("edited")
    assert key == entry_key(folder, "onnx-int8", RECIPES["onnx-int8"])
    (folder / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 8, "x": 1}')
    assert key != entry_key(folder, "onnx-int8", RECIPES["onnx-int8"])


def _fake_exporter(calls: list[str], delay_s: float = 0.0) -> Any:
    def run(settings: ModelSettings, folder: Path, key: str, out: Path) -> None:
        calls.append(key)
        out.mkdir(parents=True)
        (out / "model.onnx").write_bytes(b"graph")
        time.sleep(delay_s)  # a slow export: the other loaders must wait, not export again
        (out / "tokenizer.json").write_text("{}")
        sha = {f: file_sha256(out / f) for f in ("model.onnx", "tokenizer.json")}
        (out / "manifest.json").write_text(json.dumps({"key": key, "dim": 8, "sha256": sha}))

    return run


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSettings:
    folder = _folder(tmp_path)
    monkeypatch.setattr(onnx_embedder, "model_dir", lambda name: folder)
    return ModelSettings(name="tiny/model", backend="onnx-int8", cache_dir=str(tmp_path / "cache"))


def test_concurrent_loaders_export_once_and_see_only_a_whole_entry(
    settings: ModelSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(onnx_embedder, "_run_exporter", _fake_exporter(calls, delay_s=0.5))
    results: list[tuple[Path, dict[str, Any]]] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_entry(settings))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({path for path, _ in results}) == 1 and len(results) == 4
    path = results[0][0]
    assert path.parent == tmp_path / "cache" and path.name.startswith("tiny_model-onnx-int8-")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]  # no temp folder left
    assert ensure_entry(settings)[0] == path and len(calls) == 1  # reused


def test_a_damaged_entry_is_made_again(settings: ModelSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(onnx_embedder, "_run_exporter", _fake_exporter(calls))
    path, manifest = ensure_entry(settings)
    assert read_entry(path, manifest["key"]) == manifest
    (path / "model.onnx").write_bytes(b"grapH")  # one byte off
    assert read_entry(path, manifest["key"]) is None
    again, _ = ensure_entry(settings)
    assert again == path and len(calls) == 2 and (path / "model.onnx").read_bytes() == b"graph"
    (path / "manifest.json").unlink()  # an entry without its manifest is incomplete
    ensure_entry(settings)
    assert len(calls) == 3


def test_a_failed_export_leaves_nothing_behind(
    settings: ModelSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(settings: ModelSettings, folder: Path, key: str, out: Path) -> None:
        out.mkdir(parents=True)
        (out / "model.onnx").write_bytes(b"half")
        raise ExportError("the exporter died")

    monkeypatch.setattr(onnx_embedder, "_run_exporter", broken)
    with pytest.raises(ExportError, match="died"):
        ensure_entry(settings)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_the_real_exporter_refuses_a_model_it_cannot_run(tmp_path: Path) -> None:
    folder = tmp_path / "dense"
    shutil.copytree(_folder(tmp_path), folder)
    modules = [*json.loads((folder / "modules.json").read_text()), {"path": "2_Dense", "type": "x.Dense"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    from storywire.onnx_export import main

    assert (
        main(["--model", str(folder), "--name", "d", "--backend", "onnx", "--key", "k", "--out", str(tmp_path / "o")])
        == 2
    )
    assert not (tmp_path / "o").exists()
