"""Export a sentence-transformers model to ONNX for the ONNX backends (run as a child process).

    python -m storywire.onnx_export --model DIR --name NAME --backend onnx|onnx-int8 --key KEY --out DIR

``storywire.onnx_embedder.ensure_entry`` runs this in a child process, so torch is loaded
there and never in the process that serves embeddings; it writes into a temporary folder
that the parent renames into the cache. ``storywire model export`` prepares the cache
ahead (the image does, at build time).

What it writes (``onnx_embedder.RECIPES`` says how, per backend):

- ``model.onnx``: the transformer, traced by ``torch.onnx.export`` (TorchScript exporter,
  eager attention: the attention pattern the transformer optimizer recognises), from token
  ids to token vectors, with dynamic batch and sequence axes; for ``onnx-int8``, fused by
  ``onnxruntime.transformers.optimizer`` and quantized by ``quantize_dynamic``;
- ``tokenizer.json``: the fast tokenizer transformers builds for the model, as it is;
- ``manifest.json`` (last): pooling, normalisation, maximum sequence length and lower-casing
  from the model's sentence-transformers configuration, the vector size, the graph's inputs,
  the SHA-256 of both files, and the check below.

Before the manifest is written, the exported model (tokenizer, graph, pooling) embeds a few
sentences beside sentence-transformers itself; below ``MIN_COSINE`` for the backend the
export fails. Only a Transformer, one Pooling mode and an optional Normalize are exported:
a model with other modules (Dense, for instance) needs ``STORYWIRE_MODEL_BACKEND=torch``.
Exit status 2 with one line on stderr when the model cannot be exported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from storywire.embedder import ExportError, file_sha256
from storywire.onnx_embedder import EXPORT_FORMAT, POOLING_MODES, RECIPES, OnnxEmbedder

MIN_COSINE = {"onnx": 0.9999, "onnx-int8": 0.97}
_CHECK_TEXTS = [
    "Storm leaves thousands without power as rivers rise across the north; crews worked through the night.",
    "Central bank raises interest rates for the third time this year, citing food and energy prices.",
    "Earthquake of magnitude 6.8 strikes near the coast; rescue teams search collapsed buildings.",
    "Tech company to cut 10,000 jobs as demand slows, the chief executive said on Tuesday.",
    "Le gouvernement annonce un plan d'aide aux agriculteurs touchés par la sécheresse.",
    "Short title",
]
_MODULES = {"Transformer", "Pooling", "Normalize"}


def pooling_mode(folder: Path, module_path: str) -> str:
    """The one pooling mode of a sentence-transformers Pooling config (old flags or the newer name)."""
    config = json.loads((folder / module_path / "config.json").read_text())
    if isinstance(config.get("pooling_mode"), str):
        modes = [str(config["pooling_mode"])]
    else:
        modes = [k.removeprefix("pooling_mode_") for k, v in config.items() if k.startswith("pooling_mode_") and v]
    names = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}
    modes = [names.get(m, m) for m in modes]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise ExportError(f"pooling {modes} is not one of {POOLING_MODES}; use STORYWIRE_MODEL_BACKEND=torch")
    return modes[0]


def _structure(folder: Path) -> tuple[str, bool]:
    """(pooling mode, normalize) of the model's modules; raises ExportError for anything else."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return "mean", False  # a plain transformer: sentence-transformers adds mean pooling
    modules = json.loads(modules_file.read_text())
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if not set(kinds) <= _MODULES or kinds[:1] != ["Transformer"] or "Pooling" not in kinds:
        raise ExportError(f"modules {kinds}: the ONNX backends run Transformer, Pooling and Normalize only")
    pooling = next(m for m, k in zip(modules, kinds, strict=True) if k == "Pooling")
    return pooling_mode(folder, str(pooling.get("path", ""))), "Normalize" in kinds


def _lower_case(folder: Path, st: Any) -> bool:
    """Whether sentence-transformers lower-cases texts before the tokenizer (sentence_bert_config.json)."""
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return bool(json.loads(config.read_text()).get("do_lower_case", False))
    return bool(getattr(st[0], "do_lower_case", False))


def _trace(st: Any, raw: Path, opset: int) -> list[str]:
    """The transformer to ``raw`` (token ids -> token vectors); returns the graph's input names."""
    import torch

    transformer = st[0]
    model = transformer.auto_model
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # the pattern onnxruntime's optimizer fuses
    sample = transformer.tokenizer(["a first sentence", "and a second, longer one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class TokenVectors(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(names, args, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: the check below is what counts
        torch.onnx.export(
            TokenVectors().eval(),
            tuple(sample[n] for n in names),
            str(raw),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return names


def _fuse(raw: Path, fused: Path, config: Any) -> None:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=0,  # the offline fusions only; onnxruntime applies its own when it loads the graph
    )
    model.save_model_to_file(str(fused))


def _quantize(src: Path, dst: Path, spec: dict[str, Any]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=list(spec["ops"]),
        per_channel=bool(spec["per_channel"]),
        weight_type=QuantType[str(spec["weights"])],
        # The fused operators (com.microsoft domain) have no type in ONNX's shape inference.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def export(folder: Path, name: str, backend: str, key: str, out: Path) -> dict[str, Any]:
    """Write the entry for ``backend`` of the model in ``folder`` into ``out``; returns its manifest."""
    pooling, normalize = _structure(folder)  # before torch is imported: a refusal is quick
    import numpy as np
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    recipe = RECIPES[backend]
    st = SentenceTransformer(str(folder), device="cpu")
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.onnx"
    inputs = _trace(st, raw, int(recipe["opset"]))
    graph = raw
    if recipe["fusion"]:
        graph = out / "fused.onnx"
        _fuse(raw, graph, st[0].auto_model.config)
    if recipe["quantize"]:
        quantized = out / "quantized.onnx"
        _quantize(graph, quantized, recipe["quantize"])
        graph = quantized
    graph.rename(out / "model.onnx")
    for leftover in out.glob("*.onnx*"):
        if leftover.name != "model.onnx":
            leftover.unlink()
    (out / "tokenizer.json").write_text(st.tokenizer.backend_tokenizer.to_str())
    manifest: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "key": key,
        "model": name,
        "backend": backend,
        "recipe": recipe,
        "onnxruntime": onnxruntime.__version__,
        "dim": int(st.get_sentence_embedding_dimension() or 0),
        "pooling": pooling,
        "normalize": normalize,
        "do_lower_case": _lower_case(folder, st),
        "max_seq_length": int(st.max_seq_length),
        "inputs": inputs,
        "sha256": {f: file_sha256(out / f) for f in ("model.onnx", "tokenizer.json")},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    reference = st.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxEmbedder(name, backend, out, manifest, threads=1).encode(_CHECK_TEXTS)
    if not normalize:  # the reference is normalised here: compare directions
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
    cosine = float((np.asarray(reference) * got).sum(axis=1).min())
    if not cosine >= MIN_COSINE[backend]:
        raise ExportError(f"the {backend} graph's vectors are off: cosine to sentence-transformers {cosine:.4f}")
    manifest["check"] = {"texts": len(_CHECK_TEXTS), "cosine_min": round(cosine, 6)}
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.rename(out / "manifest.json")  # last: an entry without it is incomplete
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the model's folder")
    ap.add_argument("--name", required=True, help="the configured model name (recorded in the manifest)")
    ap.add_argument("--backend", required=True, choices=sorted(RECIPES))
    ap.add_argument("--key", required=True, help="the cache key (storywire.onnx_embedder.entry_key)")
    ap.add_argument("--out", required=True, help="the folder to write")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        manifest = export(Path(args.model), args.name, args.backend, args.key, Path(args.out))
    except ExportError as exc:
        print(f"storywire.onnx_export: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, "dim": manifest["dim"], "check": manifest["check"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
