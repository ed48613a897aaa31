#!/usr/bin/env python3
"""ARCHIVED STUDY (superseded): the first int8 graph, made with onnxruntime's quantize_dynamic.

Superseded by `models/convert_onnx.py --precision int8`, which stancemeter ships: dynamic
quantisation scales activations per tensor over the whole batch, so a paragraph's result
depended on its batch company, which the project does not allow. Kept for the figures in
BENCHMARKS.md ("int8 quantisation" sections). It now writes minilm/model.int8-dynamic.onnx so
it cannot overwrite the shipped graph.

Build minilm/model.int8-dynamic.onnx: the MiniLM graph with int8 weight MatMuls for x86 VNNI CPUs.

Recipe (chosen by the measurements in BENCHMARKS.md):

1. Outlier channels go around the int8 path. A few hidden channels of MiniLM carry values
   4-15x larger than the rest (channels 63, 99, 223 of the LayerNorm outputs, one or two
   channels of each GELU output). Dynamic int8 quantises activations with one scale per
   tensor, so those channels would set the step for all the others. For every weight MatMul
   whose input has such channels, the input is split exactly in fp32:
       X @ W  =  (X * inlier_mask) @ W'  +  X[..., outliers] @ W[outliers, :]
   where W' is W with the outlier rows set to 0. The first product is quantised, the second
   (a handful of rows) stays fp32. The split changes nothing in fp32 arithmetic.
2. onnxruntime.quantization.quantize_dynamic: QInt8 weights, symmetric, per output channel,
   no reduce_range (AVX-512 VNNI does not saturate), MatMul only. Left in fp32: the two
   attention MatMuls of each layer (Q*K^T and probs*V, which have no weights) and the small
   outlier MatMuls.

The outlier channels are a fixed table in this file (OUTLIER_CHANNELS), measured once with
`--calibrate` on data/labeled/train.jsonl (per-channel max |x| over all real tokens; a channel
is an outlier when its max exceeds 4x the median channel's). Keeping the table in the source
makes the build pure arithmetic on the weights: the same model.onnx and package versions give
the same bytes on every machine (run it twice and compare sha256).

Packages: models/requirements.txt plus onnxruntime==1.32.0 (its quantization tools need
packaging==26.3 as well). Install them into models/.venv with --no-deps, for example:
    models/.venv/bin/python -m pip install --no-deps \\
        models/.cache/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl packaging==26.3

Usage:
    python tools/int8-study/quantize_dynamic.py [--model-dir models/minilm] [--out models/minilm/model.int8-dynamic.onnx]
    python tools/int8-study/quantize_dynamic.py --verify      # also compare with fp32 on data/labeled/test.jsonl
    python tools/int8-study/quantize_dynamic.py --calibrate   # re-measure the outlier table and print it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
# sha256 of the fp32 graph this table and recipe were made for (models/manifest.json).
FP32_SHA256 = "6a829315b928ff915f5e73f7f42b527dae0c9653f28bb0f29233c49775d5029a"
THRESHOLD = 4.0  # outlier: max |x| above THRESHOLD x the median channel's max |x|

# Input tensor of a weight MatMul -> channels that bypass int8 (from --calibrate, see above).
OUTLIER_CHANNELS: dict[str, list[int]] = {
    "l0_attn_ln": [63, 99],
    "l0_gelu": [856],
    "l1_attn_ln": [63, 99],
    "l1_gelu": [607],
    "l2_attn_ln": [99, 223],
    "l2_gelu": [218, 1004],
    "l2_out_ln": [99],
    "l3_attn_ln": [63, 99, 223],
    "l3_gelu": [358],
    "l3_out_ln": [99],
    "l4_attn_ln": [63, 99, 127, 223],
    "l4_gelu": [192],
    "l4_out_ln": [99],
    "l5_attn_ln": [99, 127, 223, 319],
    "l5_gelu": [1302],
}


def log(message: str) -> None:
    print(f"quantize: {message}", file=sys.stderr)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weight_matmuls(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Activation tensor -> the MatMuls that multiply it by a weight initializer, graph order."""
    weights = {i.name for i in model.graph.initializer}
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def split_outliers(model: onnx.ModelProto, table: dict[str, list[int]]) -> list[str]:
    """Rewrites `model` in place (step 1 of the recipe); returns the new fp32 MatMuls' names."""
    inits = {i.name: i for i in model.graph.initializer}
    groups = weight_matmuls(model)
    unknown = sorted(set(table) - set(groups))
    if unknown:
        raise SystemExit(f"quantize: the graph has no weight MatMul reading {unknown}; wrong model.onnx?")
    added_inits, small, after = [], [], {}
    before: dict[str, list[onnx.NodeProto]] = {}
    for x, channels in table.items():
        first = groups[x][0]
        width = inits[first.input[1]].dims[0]
        keep = np.ones(width, np.float32)
        keep[channels] = 0.0
        idx = np.array(channels, np.int64)
        added_inits += [numpy_helper.from_array(keep, f"{x}_inlier_mask"), numpy_helper.from_array(idx, f"{x}_outlier_idx")]
        before[first.name] = [
            helper.make_node("Mul", [x, f"{x}_inlier_mask"], [f"{x}_inliers"], name=f"{x}_inliers_Mul"),
            helper.make_node("Gather", [x, f"{x}_outlier_idx"], [f"{x}_outliers"], name=f"{x}_outliers_Gather", axis=-1),
        ]
        for mm in groups[x]:
            w_name, out = mm.input[1], mm.output[0]
            w = numpy_helper.to_array(inits[w_name]).copy()
            rows = w[channels, :].copy()
            w[channels, :] = 0.0
            inits[w_name].CopyFrom(numpy_helper.from_array(w, w_name))
            added_inits.append(numpy_helper.from_array(rows, f"{w_name}_outlier_rows"))
            mm.input[0] = f"{x}_inliers"
            mm.output[0] = f"{out}_inlier_part"
            fp32 = helper.make_node(
                "MatMul", [f"{x}_outliers", f"{w_name}_outlier_rows"], [f"{out}_outlier_part"], name=f"{mm.name}_outliers"
            )
            total = helper.make_node("Add", [f"{out}_inlier_part", f"{out}_outlier_part"], [out], name=f"{mm.name}_sum")
            after[mm.name] = [fp32, total]
            small.append(fp32.name)
    nodes = []
    for node in model.graph.node:
        nodes += before.get(node.name, []) + [node] + after.get(node.name, [])
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(added_inits)
    onnx.checker.check_model(model)
    return small


def build(src: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    actual = sha256_file(src)
    if actual != FP32_SHA256:
        raise SystemExit(
            f"quantize: {src} has sha256 {actual}, expected {FP32_SHA256}\n"
            "quantize: run 'bash models/fetch' first; if model.onnx changed on purpose, rerun --calibrate"
        )
    model = onnx.load(str(src))
    small = split_outliers(model, OUTLIER_CHANNELS)
    weights = {i.name for i in model.graph.initializer}
    attention = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights]
    # quantize_dynamic logs a generic "consider pre-processing" warning on every run; the
    # recipe needs no pre-processing (shapes stay symbolic, no Conv/BN to fold).
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="quantize.") as tmp:
        split_path = Path(tmp) / "split.onnx"
        onnx.save(model, str(split_path))
        part = out.with_name(f"{out.name}.part.{os.getpid()}")
        try:
            quantize_dynamic(
                str(split_path),
                str(part),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=False,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=attention + small,
            )
            os.replace(part, out)
        finally:
            part.unlink(missing_ok=True)
    log(f"wrote {out} ({out.stat().st_size} bytes, sha256 {sha256_file(out)})")


# ---- checks (need tokenizers as well) ----------------------------------------------------------


def texts_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def embed(session, tokenizer, texts: list[str], batch_size: int) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors; length-sorted batches as stancemeter runs them
    (the texts used here fit one 256-token window)."""
    seqs = [e.ids[:256] for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i]), i))
    out = np.zeros((len(seqs), 384), np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(seqs[i]) for i in chunk)
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(chunk):
            ids[r, : len(seqs[i])] = seqs[i]
            mask[r, : len(seqs[i])] = 1
        hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(1) / m.sum(1)
        out[chunk] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def sessions_and_tokenizer(model_dir: Path):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 0

    def session(path: Path):
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    return session, tokenizer


def verify(model_dir: Path, out: Path) -> None:
    session, tokenizer = sessions_and_tokenizer(model_dir)
    texts = texts_of(REPO / "data" / "labeled" / "test.jsonl")
    fp32 = embed(session(model_dir / "model.onnx"), tokenizer, texts, 32)
    int8 = session(out)
    batched = embed(int8, tokenizer, texts, 32)
    single = embed(int8, tokenizer, texts, 1)
    cos = (batched * fp32).sum(1)
    cos1 = (single * fp32).sum(1)
    across = (batched * single).sum(1)
    print(f"verify: {len(texts)} texts of data/labeled/test.jsonl")
    print(f"verify: cosine(int8, fp32), batches of 32: min {cos.min():.5f}  mean {cos.mean():.5f}")
    print(f"verify: cosine(int8, fp32), batches of 1:  min {cos1.min():.5f}  mean {cos1.mean():.5f}")
    print(f"verify: cosine(int8 batch 32, int8 batch 1): min {across.min():.5f}  (dynamic quantisation: not batch-invariant)")
    if cos.min() < 0.99:
        raise SystemExit("quantize: verify FAILED (min cosine below 0.99)")
    print("verify: OK")


def calibrate(model_dir: Path) -> None:
    """Prints OUTLIER_CHANNELS measured on data/labeled/train.jsonl."""
    session, tokenizer = sessions_and_tokenizer(model_dir)
    model = onnx.load(str(model_dir / "model.onnx"))
    groups = weight_matmuls(model)
    for x in groups:
        model.graph.output.append(helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory(prefix="quantize.") as tmp:
        probe = Path(tmp) / "probe.onnx"
        onnx.save(model, str(probe))
        s = session(probe)
        names = list(groups)
        amax = {x: None for x in names}
        for text in texts_of(REPO / "data" / "labeled" / "train.jsonl"):
            ids = np.array([tokenizer.encode(text).ids[:256]], np.int64)
            outs = s.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
            for x, o in zip(names, outs):
                m = np.abs(o[0]).max(0)
                amax[x] = m if amax[x] is None else np.maximum(amax[x], m)
    print("OUTLIER_CHANNELS: dict[str, list[int]] = {")
    for x in names:
        channels = np.nonzero(amax[x] > THRESHOLD * np.median(amax[x]))[0].tolist()
        if channels:
            print(f'    "{x}": {channels},')
    print("}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=MODELS / "minilm")
    ap.add_argument("--out", type=Path, help="default: MODEL_DIR/model.int8-dynamic.onnx")
    ap.add_argument("--verify", action="store_true", help="after building, compare with fp32 on data/labeled/test.jsonl")
    ap.add_argument("--calibrate", action="store_true", help="only measure and print the outlier table")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate(args.model_dir)
        return 0
    out = args.out or args.model_dir / "model.int8-dynamic.onnx"
    build(args.model_dir / "model.onnx", out)
    if args.verify:
        verify(args.model_dir, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
