#!/usr/bin/env python3
"""Build the all-MiniLM-L6-v2 BERT encoder as an ONNX graph, without torch.

The graph is assembled node by node with onnx.helper from the fp32 weights in
model.safetensors (parsed here with numpy; no safetensors/torch import).

Contract (what the Rust side relies on):
  inputs   input_ids       int64   [batch, seq]
           attention_mask  int64   [batch, seq]   1 = real token, 0 = padding
  output   last_hidden_state float32 [batch, seq, 384]   (no pooling)
  * token_type_ids are not an input: they are always 0, so row 0 of the
    token-type embedding table is a constant in the graph;
  * position ids are 0..seq-1 (rows 0..seq-1 of the position table), seq <= 512;
  * the attention mask becomes an additive bias (1 - mask) * finfo(float32).min
    on the keys, so padded positions never change the hidden states of real
    tokens (padding positions themselves get meaningless values);
  * GELU is the exact erf form; all weights and math are fp32; opset 17.

With --precision int8 the same network is built with every linear layer (Q/K/V as one,
attention output, FFN in and out) as an 8-bit integer matmul, for speed on CPUs with
VNNI; everything else (embeddings, attention scores and softmax, LayerNorm, GELU, the
output) stays fp32:
  * weights: symmetric int8 per output column (scale max|w| / 127);
  * activations: quantised per token (each row of the input gets its own scale
    max|x| / 127, stored as uint8 with zero point 128), computed inside the graph.
    A token's codes depend on that token's vector alone, so padding and batch
    composition never change them: the int8 graph is as batch-invariant as fp32;
  * SmoothQuant-style balancing: each linear input channel c is divided by
    s_c = sqrt(amax_x[c] / amax_w[c]) and the weight row multiplied by it, so the
    outlier channels of LayerNorm outputs stop eating the 8 bits of every other channel. amax_x comes from models/int8-calibration.json,
    made once by --calibrate from the training split (data/labeled/train.jsonl);
  * the FFN output layer's input (a GELU output, >= -0.17) is shifted by +0.17/s_c
    and quantised to the full unsigned range [0, 255]; the shift's contribution is
    subtracted from the bias (exactly summed with math.fsum).
How close it stays to fp32 (labels, stance) is measured in BENCHMARKS.md and enforced
by tests/integration/precision.rs.

The output bytes are deterministic for fixed versions of numpy/onnx/protobuf
(models/requirements.txt): fixed node order and names, no timestamps, no
randomness. models/fetch checks the result against models/manifest.json.

Usage:
  python convert_onnx.py [--model-dir DIR] [--out FILE] [--precision fp32|int8]
  python convert_onnx.py --calibrate [--model-dir DIR]
      rewrites models/int8-calibration.json (needs tokenizers; numpy forward pass)
  python convert_onnx.py --verify [--model-dir DIR] [--out FILE]
      --verify also needs onnxruntime in the venv: run it with models/.venv-verify/bin/python
      (made by `bash models/verify`, which checks every graph in the manifest this way).
      It compares onnxruntime's output with the independent numpy reference in
      tests/reference/reference_embed.py (max difference < 1e-4, cosine >= 0.9999), checks
      padding invariance, and checks that the graph holds the fused operators
      (fuse_graph.check_fused; build with --no-fuse for the plain graph, which fails that check).
      With --adapter the reference gets the same adapter merged in (no golden-file check).
      An int8 graph (one with integer matmuls) is instead compared with the plain int8 graph
      built again from the same weights, --adapter and --calibration: every output bit must
      be equal. models/verify runs both checks on every graph in the manifest.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import fuse_graph

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
PRODUCER = "stancemeter-convert_onnx"
PRODUCER_VERSION = "1"

HIDDEN = 384
HEADS = 12
HEAD_DIM = HIDDEN // HEADS
INTERMEDIATE = 1536
LAYERS = 6
VOCAB = 30522
MAX_POS = 512
LN_EPS = 1e-12

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# safetensors reader (format: u64 LE header length, JSON header, raw data)
# --------------------------------------------------------------------------
_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        b, e = info["data_offsets"]
        arr = np.frombuffer(data, dtype=dt, count=(e - b) // dt.itemsize, offset=base + b)
        out[name] = arr.reshape(info["shape"]).astype(dt.newbyteorder("="), copy=True)
    return out


def resolve(path: Path) -> Path:
    """A path as given, else relative to the models folder (models/fetch passes those)."""
    return path if path.is_absolute() or path.exists() else HERE / path


def apply_adapter(w: dict[str, np.ndarray], adapter: Path) -> dict[str, np.ndarray]:
    """Merge a fine-tuning adapter (stancemeter train --finetune) into the base weights.

    <linear>.lora_a [r, in] and <linear>.lora_b [out, r] add B @ A to <linear>.weight
    (computed in float64, then rounded once to float32); any other tensor replaces the
    base tensor of the same name and shape (fp16 storage is widened to fp32 exactly)."""
    a = read_safetensors(adapter)
    w = dict(w)
    for name in sorted(a):
        v = a[name]
        if name.endswith(".lora_b"):
            continue
        if name.endswith(".lora_a"):
            linear = name[: -len(".lora_a")]
            b = a.get(linear + ".lora_b")
            key = linear + ".weight"
            if b is None or key not in w:
                raise SystemExit(f"convert_onnx: adapter {adapter}: {name} lacks its lora_b or the base lacks {key}")
            # elementwise products summed by numpy (no BLAS): the same bits on every CPU
            delta = (b.astype(np.float64)[:, :, None] * v.astype(np.float64)[None, :, :]).sum(axis=1)
            if delta.shape != w[key].shape:
                raise SystemExit(f"convert_onnx: adapter {adapter}: {linear} delta {delta.shape} != {w[key].shape}")
            w[key] = (w[key].astype(np.float64) + delta).astype(np.float32)
        else:
            if name not in w or w[name].shape != v.shape:
                raise SystemExit(f"convert_onnx: adapter {adapter}: {name} {v.shape} does not replace a base tensor")
            w[name] = v.astype(np.float32)
    print(f"convert_onnx: merged adapter {adapter} ({len(a)} tensors)", file=sys.stderr)
    return w


def load_weights(model_dir: Path, adapter: Path | None = None) -> dict[str, np.ndarray]:
    w = read_safetensors(model_dir / "model.safetensors")
    # some exports prefix everything with "bert."
    if any(k.startswith("bert.") for k in w):
        w = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in w.items()}
    cfg = json.loads((model_dir / "config.json").read_text())
    expect = {
        "hidden_size": HIDDEN, "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS, "vocab_size": VOCAB, "max_position_embeddings": MAX_POS,
        "layer_norm_eps": LN_EPS, "hidden_act": "gelu",
    }
    for k, v in expect.items():
        if cfg.get(k) != v:
            raise SystemExit(f"convert_onnx: config.json {k}={cfg.get(k)!r}, expected {v!r}")
    for k, v in w.items():
        if k != "embeddings.position_ids" and v.dtype != np.float32:
            raise SystemExit(f"convert_onnx: tensor {k} is {v.dtype}, expected float32")
    return apply_adapter(w, adapter) if adapter else w


# --------------------------------------------------------------------------
# graph building
# --------------------------------------------------------------------------
class GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._n = 0

    def const(self, name: str, arr: np.ndarray) -> str:
        assert name not in self._names, name
        self._names.add(name)
        arr = np.ascontiguousarray(arr)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        """Add one node with a single output named after the node."""
        assert name not in self._names, name
        self._names.add(name)
        self._n += 1
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=f"n{self._n:04d}_{op_type}", **attrs))
        return name


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


CALIBRATION = HERE / "int8-calibration.json"
CALIBRATION_PARAGRAPHS = 300
GELU_MIN = 0.17  # exact GELU is >= -0.16997


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * gamma + beta


def calibrate(model_dir: Path, adapter: Path | None = None, out: Path = CALIBRATION) -> None:
    """Largest |activation| per input channel of every linear layer over the first
    CALIBRATION_PARAGRAPHS paragraphs of the training split (fp32 numpy forward pass)."""
    from tokenizers import Tokenizer

    w = load_weights(model_dir, adapter)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    source = HERE.parent / "data" / "labeled" / "train.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()[:CALIBRATION_PARAGRAPHS]
    erf = np.frompyfunc(math.erf, 1, 1)
    amax: dict[str, np.ndarray] = {}

    def seen(tag: str, x: np.ndarray) -> None:
        m = np.abs(x).max(axis=0)
        amax[tag] = np.maximum(amax[tag], m) if tag in amax else m

    def dense(prefix: str, x: np.ndarray) -> np.ndarray:
        return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]

    for line in lines:
        ids = tok.encode(json.loads(line)["text"]).ids[:256]
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x + w["embeddings.position_embeddings.weight"][:n],
                        w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for i in range(LAYERS):
            p = f"encoder.layer.{i}"
            seen(f"l{i}_qkv", x)
            q, k, v = (dense(f"{p}.attention.self.{t}", x).reshape(n, HEADS, HEAD_DIM).transpose(1, 0, 2)
                       for t in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(HEAD_DIM)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
            seen(f"l{i}_attn_out", ctx)
            x = _layer_norm(dense(f"{p}.attention.output.dense", ctx) + x,
                            w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"])
            seen(f"l{i}_inter", x)
            h = dense(f"{p}.intermediate.dense", x)
            h = (0.5 * h * (1.0 + erf(h / math.sqrt(2.0)).astype(np.float32))).astype(np.float32)
            seen(f"l{i}_ffn_out", h)
            x = _layer_norm(dense(f"{p}.output.dense", h) + x,
                            w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
    table = {
        "comment": "Per-channel max |input| of every linear layer of all-MiniLM-L6-v2 (fp32), used by "
                   "convert_onnx.py --precision int8 to balance activations against weights. "
                   "Made by `convert_onnx.py --calibrate`.",
        "source": f"data/labeled/train.jsonl, first {len(lines)} paragraphs",
        "amax": {tag: [float(f"{v:.4g}") for v in vals] for tag, vals in sorted(amax.items())},
    }
    if adapter:
        table["adapter"] = str(adapter.relative_to(HERE)) if adapter.is_relative_to(HERE) else str(adapter)
    out.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
    print(f"convert_onnx: wrote {out} ({len(amax)} layers, {len(lines)} paragraphs)", file=sys.stderr)


def smoothing(amax_x: list[float], wt: np.ndarray) -> np.ndarray:
    """Factors s_c = sqrt(amax_x[c] / amax_w[c]) for the input channels of wt [in, out].

    Computed with Python floats (IEEE division and square root), so the bytes of the
    graph do not depend on the numpy build or the CPU.
    """
    amax_w = np.abs(wt).max(axis=1)
    return np.asarray([math.sqrt(max(a, 1e-5) / max(float(b), 1e-5)) for a, b in zip(amax_x, amax_w)], dtype=np.float32)


def build_model(w: dict[str, np.ndarray], precision: str = "fp32", amax: dict | None = None) -> onnx.ModelProto:
    g = GraphBuilder()

    # shared constants
    c_one = g.const("const_one", f32(1.0))
    c_half = g.const("const_half", f32(0.5))
    c_sqrt2 = g.const("const_sqrt2", f32(math.sqrt(2.0)))
    c_min = g.const("const_f32_min", f32(np.finfo(np.float32).min))
    c_scale = g.const("const_sqrt_head_dim", f32(math.sqrt(HEAD_DIM)))
    c_zero1 = g.const("const_i64_0", i64([0]))
    c_axis0 = g.const("const_axes_0", i64([0]))
    c_axes12 = g.const("const_axes_1_2", i64([1, 2]))
    c_split_heads = g.const("const_shape_split_heads", i64([0, 0, HEADS, HEAD_DIM]))
    c_merge_heads = g.const("const_shape_merge_heads", i64([0, 0, HIDDEN]))

    # ---- embeddings -------------------------------------------------------
    word_tab = g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"])
    pos_tab = g.const("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"])
    tt0 = g.const("embeddings.token_type_embeddings.row0", w["embeddings.token_type_embeddings.weight"][0])
    emb_g = g.const("embeddings.LayerNorm.weight", w["embeddings.LayerNorm.weight"])
    emb_b = g.const("embeddings.LayerNorm.bias", w["embeddings.LayerNorm.bias"])

    word = g.op("Gather", [word_tab, "input_ids"], "emb_word", axis=0)          # [B,S,H]
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)          # [1] = S
    pos = g.op("Slice", [pos_tab, c_zero1, seq_len, c_axis0], "emb_pos")       # [S,H], ids 0..S-1
    e1 = g.op("Add", [word, tt0], "emb_word_tt")                               # same order as HF:
    e2 = g.op("Add", [e1, pos], "emb_sum")                                     # (word + tt) + pos
    x = g.op("LayerNormalization", [e2, emb_g, emb_b], "emb_ln", axis=-1, epsilon=LN_EPS)

    # ---- additive attention-mask bias: (1 - mask) * f32min, [B,1,1,S] ----
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = g.op("Sub", [c_one, mask_f], "mask_inv")
    bias2 = g.op("Mul", [inv, c_min], "mask_bias2d")
    bias = g.op("Unsqueeze", [bias2, c_axes12], "mask_bias")

    def linear_fp32(inp: str, prefix: str, tag: str) -> str:
        wt = g.const(f"{prefix}.weight_t", w[f"{prefix}.weight"].T)  # [in, out]
        bb = g.const(f"{prefix}.bias", w[f"{prefix}.bias"])
        mm = g.op("MatMul", [inp, wt], f"{tag}_mm")
        return g.op("Add", [mm, bb], f"{tag}")

    if precision == "int8":
        c_127 = g.const("const_127", f32(127.0))
        c_128 = g.const("const_128", f32(128.0))
        c_0 = g.const("const_0", f32(0.0))
        c_255 = g.const("const_255", f32(255.0))
        c_tiny = g.const("const_tiny", f32(1e-12))
        zp_128 = g.const("const_zp_u8_128", np.asarray(128, dtype=np.uint8))
        zp_0 = g.const("const_zp_u8_0", np.asarray(0, dtype=np.uint8))
        zp_w = g.const("const_zp_i8_0", np.asarray(0, dtype=np.int8))

    def quantize_rows(inp: str, tag: str, shifted: bool) -> tuple[str, str]:
        """Per-token 8-bit codes of the last axis and their [B,S,1] scales.

        Symmetric: uint8 codes round(x / s) + 128 with s = max|x| / 127.
        Shifted (input already >= 0): uint8 codes round(x / s) with s = max(x) / 255.
        """
        if shifted:
            amax = g.op("ReduceMax", [inp], f"{tag}_amax", axes=[-1], keepdims=1)
            levels, offset = c_255, None
        else:
            amax = g.op("ReduceMax", [g.op("Abs", [inp], f"{tag}_abs")], f"{tag}_amax", axes=[-1], keepdims=1)
            levels, offset = c_127, c_128
        scale = g.op("Div", [g.op("Max", [amax, c_tiny], f"{tag}_amax_pos"), levels], f"{tag}_scale")
        codes = g.op("Round", [g.op("Div", [inp, scale], f"{tag}_div")], f"{tag}_round")
        if offset is not None:
            codes = g.op("Clip", [g.op("Add", [codes, offset], f"{tag}_offset"), c_0, c_255], f"{tag}_clip")
        return g.op("Cast", [codes], f"{tag}_u8", to=TensorProto.UINT8), scale

    def linear_int8(inp: str, prefixes: list[str], tag: str) -> str:
        """x W + b as an 8-bit integer matmul; several prefixes = their weights side by side."""
        wt = np.concatenate([w[f"{p_}.weight"].T for p_ in prefixes], axis=1)  # [in, out]
        bias = np.concatenate([w[f"{p_}.bias"] for p_ in prefixes]).astype(np.float64)
        smooth = smoothing(amax[tag], wt)
        inp = g.op("Mul", [inp, g.const(f"{tag}_smooth_inv", f32(1.0 / smooth))], f"{tag}_smoothed")
        wt = wt * smooth[:, None]
        col_scale = (np.maximum(np.abs(wt).max(axis=0), np.float32(1e-12)) / np.float32(127.0)).astype(np.float32)
        wq = np.clip(np.round(wt / col_scale), -127, 127).astype(np.int8)
        shifted = tag.endswith("_ffn_out")
        if shifted:  # GELU output >= -GELU_MIN: quantise x + shift >= 0 on all 256 levels
            shift = (np.float32(GELU_MIN) / smooth).astype(np.float32)
            inp = g.op("Relu", [g.op("Add", [inp, g.const(f"{tag}_shift", shift)], f"{tag}_shifted")], f"{tag}_nonneg")
            # (x + shift) W = x W + shift W: take shift W (as quantised) back out of the bias
            deq = wq.astype(np.float64) * col_scale.astype(np.float64)
            bias = bias - np.asarray([math.fsum(float(a) * d for a, d in zip(shift, col)) for col in deq.T])
        codes, row_scale = quantize_rows(inp, f"{tag}_in", shifted)
        name = prefixes[0] if len(prefixes) == 1 else f"{prefixes[0]}+{len(prefixes) - 1}"
        acc = g.op("MatMulInteger", [codes, g.const(f"{name}.weight_t_i8", wq), zp_0 if shifted else zp_128, zp_w],
                   f"{tag}_acc")
        y = g.op("Mul", [g.op("Cast", [acc], f"{tag}_accf", to=TensorProto.FLOAT), row_scale], f"{tag}_row_scaled")
        y = g.op("Mul", [y, g.const(f"{name}.col_scale", col_scale)], f"{tag}_scaled")
        return g.op("Add", [y, g.const(f"{name}.bias", f32(bias))], tag)

    def linear(inp: str, prefix: str, tag: str) -> str:
        if precision == "int8":
            return linear_int8(inp, [prefix], tag)
        return linear_fp32(inp, prefix, tag)

    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        t = f"l{i}"
        if precision == "int8":  # one quantisation and one integer matmul for Q, K and V
            qkv = linear_int8(x, [f"{p}.attention.self.{n}" for n in ("query", "key", "value")], f"{t}_qkv")
            q, k, v = (g.op("Slice", [qkv, g.const(f"{t}_{n}_from", i64([j * HIDDEN])),
                                      g.const(f"{t}_{n}_to", i64([(j + 1) * HIDDEN])),
                                      g.const(f"{t}_{n}_axis", i64([-1]))], f"{t}_{n}")
                       for j, n in enumerate("qkv"))
        else:
            q = linear(x, f"{p}.attention.self.query", f"{t}_q")
            k = linear(x, f"{p}.attention.self.key", f"{t}_k")
            v = linear(x, f"{p}.attention.self.value", f"{t}_v")
        q4 = g.op("Transpose", [g.op("Reshape", [q, c_split_heads], f"{t}_q_split")], f"{t}_q_heads", perm=[0, 2, 1, 3])
        k4 = g.op("Transpose", [g.op("Reshape", [k, c_split_heads], f"{t}_k_split")], f"{t}_k_heads_t", perm=[0, 2, 3, 1])
        v4 = g.op("Transpose", [g.op("Reshape", [v, c_split_heads], f"{t}_v_split")], f"{t}_v_heads", perm=[0, 2, 1, 3])
        scores = g.op("MatMul", [q4, k4], f"{t}_scores")                      # [B,h,S,S]
        scaled = g.op("Div", [scores, c_scale], f"{t}_scores_scaled")
        masked = g.op("Add", [scaled, bias], f"{t}_scores_masked")
        probs = g.op("Softmax", [masked], f"{t}_probs", axis=-1)
        ctx = g.op("MatMul", [probs, v4], f"{t}_ctx")                         # [B,h,S,d]
        ctx_t = g.op("Transpose", [ctx], f"{t}_ctx_t", perm=[0, 2, 1, 3])
        ctx_m = g.op("Reshape", [ctx_t, c_merge_heads], f"{t}_ctx_merged")      # [B,S,H]
        attn = linear(ctx_m, f"{p}.attention.output.dense", f"{t}_attn_out")
        res1 = g.op("Add", [attn, x], f"{t}_attn_res")
        x1 = g.op("LayerNormalization",
                  [res1, g.const(f"{p}.attention.output.LayerNorm.weight", w[f"{p}.attention.output.LayerNorm.weight"]),
                   g.const(f"{p}.attention.output.LayerNorm.bias", w[f"{p}.attention.output.LayerNorm.bias"])],
                  f"{t}_attn_ln", axis=-1, epsilon=LN_EPS)
        inter = linear(x1, f"{p}.intermediate.dense", f"{t}_inter")
        # exact GELU, HF order: x * 0.5 * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Div", [inter, c_sqrt2], f"{t}_gelu_div")], f"{t}_gelu_erf")
        gelu = g.op("Mul", [g.op("Mul", [inter, c_half], f"{t}_gelu_half"),
                            g.op("Add", [erf, c_one], f"{t}_gelu_1p")], f"{t}_gelu")
        out = linear(gelu, f"{p}.output.dense", f"{t}_ffn_out")
        res2 = g.op("Add", [out, x1], f"{t}_ffn_res")
        x = g.op("LayerNormalization",
                 [res2, g.const(f"{p}.output.LayerNorm.weight", w[f"{p}.output.LayerNorm.weight"]),
                  g.const(f"{p}.output.LayerNorm.bias", w[f"{p}.output.LayerNorm.bias"])],
                 f"{t}_out_ln", axis=-1, epsilon=LN_EPS)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output_identity"))

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
    ]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])]
    graph = helper.make_graph(g.nodes, "all_minilm_l6_v2_encoder", inputs, outputs, initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        doc_string="sentence-transformers/all-MiniLM-L6-v2 BERT encoder (no pooling); built by models/convert_onnx.py"
        + ("" if precision == "fp32" else f"; {precision} linear layers"),
    )
    model.ir_version = IR_VERSION
    return model


def convert(model_dir: Path, out: Path, precision: str = "fp32", adapter: Path | None = None,
            calibration: Path = CALIBRATION, fuse: bool = True) -> None:
    w = load_weights(model_dir, adapter)
    amax = None
    if precision == "int8":
        amax = {k: v for k, v in json.loads(calibration.read_text(encoding="utf-8"))["amax"].items()}
    model = build_model(w, precision, amax)
    onnx.checker.check_model(model)
    if fuse:  # ONNX Runtime's fused contrib ops (models/fuse_graph.py); the plain graph is the spec
        model = fuse_graph.fuse(model)
        onnx.checker.check_model(model)
    data = model.SerializeToString()
    # deterministic check: serialising twice must give the same bytes
    if data != model.SerializeToString():
        raise SystemExit("convert_onnx: protobuf serialisation is not deterministic")
    tmp = out.with_name(out.name + f".part{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"convert_onnx: wrote {out} ({len(data)} bytes, {len(model.graph.node)} nodes, opset {OPSET})", file=sys.stderr)


# --------------------------------------------------------------------------
# verification against the independent numpy reference (needs onnxruntime)
# --------------------------------------------------------------------------
VERIFY_TEXTS = [
    "Comments",
    "Negotiators from both sides met in Geneva on Tuesday to discuss a possible ceasefire.",
    "The bakery on the corner sells fresh rye bread every morning.",
    "«Мирні переговори» resumed — officials said 3,200 prisoners could be exchanged by 15 March!",
    "A short one.",
]


def _verify_tools():
    """onnxruntime and the independent numpy reference (tests/reference/reference_embed.py)."""
    try:
        import onnxruntime as ort
        ort.InferenceSession  # models/onnxruntime/ (the runtime library) imports as an empty namespace
    except (ImportError, AttributeError):
        raise SystemExit("convert_onnx --verify: onnxruntime is not installed in this venv; run `bash models/verify`,\n"
                         "  which makes models/.venv-verify with it (from the wheel models/fetch cached) and checks every graph")
    import importlib.util

    ref_path = HERE.parent / "tests" / "reference" / "reference_embed.py"
    spec = importlib.util.spec_from_file_location("reference_embed", ref_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    return ort, ref


def _session(ort, model_bytes: bytes):
    """A one-thread session on the graph; returns run(ids_2d, mask_2d) -> last_hidden_state."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])

    def run(ids_2d, mask_2d):
        return sess.run(["last_hidden_state"], {"input_ids": np.asarray(ids_2d, dtype=np.int64),
                                                "attention_mask": np.asarray(mask_2d, dtype=np.int64)})[0]
    return run


def _verify_sequences(ref, tok) -> list[list[int]]:
    """VERIFY_TEXTS plus a full 256-token window and a 512-token sequence (every position)."""
    long_text = " ".join(ref.TEXTS[i] for i in range(len(ref.TEXTS)) if len(ref.TEXTS[i]) > 1500)
    seqs = [tok.encode(t).ids for t in VERIFY_TEXTS]
    long_ids = tok.encode(long_text).ids
    seqs.append([long_ids[0]] + long_ids[1:255] + [long_ids[-1]])  # one full 256-token window
    seqs.append([long_ids[0]] + long_ids[1:511] + [long_ids[-1]])  # max positions (512)
    return seqs


def _padded(seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """ids and attention mask of the sequences, zero-padded to the longest."""
    width = max(map(len, seqs))
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
    return ids, mask


def _verify_int8(ort, ref, run_fused, model_dir: Path, adapter: Path | None, calibration: Path) -> bool:
    """The fused int8 graph must give the same bits as the plain int8 graph built from the same
    weights, adapter and calibration table: fusion may remove operations, never change a result."""
    amax = json.loads(calibration.read_text(encoding="utf-8"))["amax"]
    run_plain = _session(ort, build_model(load_weights(model_dir, adapter), "int8", amax).SerializeToString())
    print("verify: against the plain int8 graph", file=sys.stderr)
    seqs = _verify_sequences(ref, ref.load_tokenizer(model_dir))
    differing = 0
    for ids in seqs:
        a, b = run_fused([ids], [[1] * len(ids)]), run_plain([ids], [[1] * len(ids)])
        same = np.array_equal(a, b)
        differing += not same
        print(f"verify: seq_len={len(ids):3d}  fused == plain bit for bit: {same} "
              f"(max|difference| {float(np.max(np.abs(a - b))):.3e})", file=sys.stderr)
    ids, mask = _padded(seqs)
    a, b = run_fused(ids, mask), run_plain(ids, mask)
    real = mask.astype(bool)
    same = np.array_equal(a[real], b[real])
    differing += not same
    print(f"verify: padded batch of {len(seqs)}, real tokens fused == plain bit for bit: {same}", file=sys.stderr)
    if differing:
        print(f"verify: {differing} of {len(seqs) + 1} runs differ from the plain int8 graph", file=sys.stderr)
    return not differing


def verify(model_dir: Path, onnx_path: Path, adapter: Path | None = None, calibration: Path = CALIBRATION) -> None:
    """Checks a built graph with onnxruntime: its fused operators are present, and an int8 graph
    (one with integer matmuls) gives the plain int8 graph's bits, an fp32 one the numpy reference's
    values. Exits with a message when a check fails."""
    ort, ref = _verify_tools()
    data = onnx_path.read_bytes()
    graph = onnx.load_from_string(data)
    print(f"verify: {len(graph.graph.node)} nodes: {fuse_graph.op_counts(graph)}", file=sys.stderr)
    unfused = fuse_graph.check_fused(graph, LAYERS)
    if unfused:
        print(f"verify: not the fused graph: {'; '.join(unfused)}", file=sys.stderr)
    int8 = any(n.op_type.startswith("MatMulInteger") for n in graph.graph.node)
    del graph
    run = _session(ort, data)
    print(f"verify: onnxruntime {ort.__version__}", file=sys.stderr)
    if int8:
        ok = _verify_int8(ort, ref, run, model_dir, adapter, calibration)
    else:
        ok = _verify_fp32(ref, run, model_dir, adapter)
    if not ok or unfused:
        raise SystemExit("verify: FAILED (a difference beyond the bounds above, or the graph is not fused)")
    print("verify: OK", file=sys.stderr)


def _verify_fp32(ref, run, model_dir: Path, adapter: Path | None) -> bool:
    """An fp32 graph against the numpy reference with the same weights (and adapter, merged
    by apply_adapter); the golden-file pipeline check only for the plain model."""
    tok = ref.load_tokenizer(model_dir)
    weights = ref.load_weights(model_dir)
    if adapter:
        weights = apply_adapter(weights, adapter)
    seqs = _verify_sequences(ref, tok)

    worst_ref = worst_pad0 = worst_padrand = worst_batch_ref = 0.0
    unpadded = []
    for ids in seqs:
        h_ort = run([ids], [[1] * len(ids)])[0]
        h_ref = ref.forward(weights, ids)
        d = float(np.max(np.abs(h_ort - h_ref)))
        worst_ref = max(worst_ref, d)
        unpadded.append(h_ort)
        print(f"verify: seq_len={len(ids):3d}  max|onnx - numpy| = {d:.3e}", file=sys.stderr)

    # padding invariance: batch everything, padded to the longest, once with
    # [PAD]=0 and once with random token ids in the padded positions
    rng = np.random.default_rng(1234)
    maxlen = max(len(s) for s in seqs)
    for kind in ("pad0", "random"):
        ids_b, mask_b = _padded(seqs)
        if kind == "random":  # random token ids in the padded positions
            ids_b = np.where(mask_b == 1, ids_b, rng.integers(1000, VOCAB, size=ids_b.shape, dtype=np.int64))
        hb = run(ids_b, mask_b)
        for r, s in enumerate(seqs):
            d = float(np.max(np.abs(hb[r, : len(s)] - unpadded[r])))
            dr = float(np.max(np.abs(hb[r, : len(s)] - ref.forward(weights, s))))
            worst_batch_ref = max(worst_batch_ref, dr)
            if kind == "pad0":
                worst_pad0 = max(worst_pad0, d)
            else:
                worst_padrand = max(worst_padrand, d)
        if not np.all(np.isfinite(hb)):
            raise SystemExit("verify: non-finite values in padded batch output")

    # pooled embeddings (mean over real tokens, L2) onnx vs reference
    worst_cos = 1.0
    for ids, h in zip(seqs, unpadded):
        a = h.mean(axis=0); a /= np.linalg.norm(a)
        b = ref.forward(weights, ids).mean(axis=0); b /= np.linalg.norm(b)
        worst_cos = min(worst_cos, float(a @ b))

    print(f"verify: parity  max|onnx - numpy| over {len(seqs)} sequences (len {min(map(len, seqs))}..{maxlen}) = {worst_ref:.3e}", file=sys.stderr)
    print(f"verify: padded batch vs numpy reference (real tokens)          = {worst_batch_ref:.3e}", file=sys.stderr)
    print(f"verify: padding invariance, [PAD]=0 padding (real tokens)      = {worst_pad0:.3e}", file=sys.stderr)
    print(f"verify: padding invariance, random-id padding (real tokens)    = {worst_padrand:.3e}", file=sys.stderr)
    print(f"verify: min cosine(pooled onnx, pooled numpy)                  = {worst_cos:.9f}", file=sys.stderr)
    ok = worst_ref < 1e-4 and worst_batch_ref < 1e-4 and worst_pad0 < 1e-4 and worst_padrand < 1e-4
    ok = ok and worst_cos >= 0.9999

    # full pipeline over the golden file: windows batched with padding,
    # masked mean pooling, token-count-weighted window mean, L2
    golden_path = HERE.parent / "tests" / "golden" / "reference_embeddings.json"
    if golden_path.exists() and not adapter:
        golden = json.loads(golden_path.read_text(encoding="utf-8"))
        worst_g, worst_gcos, tok_mismatch = 0.0, 1.0, 0
        for it in golden["items"]:
            ids = tok.encode(it["text"]).ids
            tok_mismatch += ids != it["token_ids"]
            content = ids[1:-1]
            wins = [[ref.CLS_ID] + content[st : st + ref.WINDOW] + [ref.SEP_ID] for st in ref.window_starts(len(content))]
            ids_b, mask_b = _padded(wins)
            hb = run(ids_b, mask_b)
            cnt = mask_b.sum(axis=1).astype(np.float64)
            pooled = (hb * mask_b[..., None]).sum(axis=1) / cnt[:, None]
            vec = (pooled * cnt[:, None]).sum(axis=0) / cnt.sum()
            vec /= np.linalg.norm(vec)
            gold = np.asarray(it["embedding"], dtype=np.float64)
            worst_g = max(worst_g, float(np.max(np.abs(vec - gold))))
            worst_gcos = min(worst_gcos, float(vec @ gold / np.linalg.norm(gold)))
        print(f"verify: golden pipeline over {len(golden['items'])} paragraphs: max|onnx - golden| = {worst_g:.3e}, "
              f"min cosine = {worst_gcos:.9f}, tokenization mismatches = {tok_mismatch}", file=sys.stderr)
        ok = ok and worst_g < 1e-5 and worst_gcos >= 0.9999 and tok_mismatch == 0
    if not ok:
        print("verify: a difference is >= 1e-4 or a cosine < 0.9999", file=sys.stderr)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=HERE / "minilm", help="dir with model.safetensors + config.json")
    ap.add_argument("--out", type=Path, default=None, help="output path (default: MODEL_DIR/model.onnx)")
    ap.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                    help="fp32: the reference graph; int8: 8-bit integer linear layers (see above)")
    ap.add_argument("--no-fuse", action="store_true",
                    help="write the plain graph (standard ONNX ops only) instead of the fused one")
    ap.add_argument("--calibrate", action="store_true", help="rewrite models/int8-calibration.json and exit")
    ap.add_argument("--verify", action="store_true", help="verify an existing --out with onnxruntime instead of converting")
    ap.add_argument("--adapter", type=Path, default=None,
                    help="merge this fine-tuning adapter (stancemeter train --finetune) into the weights first")
    ap.add_argument("--weights-dir", type=Path, default=None,
                    help="read model.safetensors + config.json here instead of --model-dir (relative: to models/)")
    ap.add_argument("--calibration", type=Path, default=CALIBRATION,
                    help="int8 calibration table to read (or, with --calibrate, to write)")
    a = ap.parse_args()
    out = a.out or (a.model_dir / "model.onnx")
    weights_dir = resolve(a.weights_dir) if a.weights_dir else a.model_dir
    adapter = resolve(a.adapter) if a.adapter else None
    calibration = resolve(a.calibration)
    if a.calibrate:
        calibrate(weights_dir, adapter, calibration)
    elif a.verify:
        verify(weights_dir, out, adapter, calibration)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        convert(weights_dir, out, a.precision, adapter, calibration, fuse=not a.no_fuse)


if __name__ == "__main__":
    main()
