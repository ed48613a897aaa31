"""Rewrite the encoder graph built by convert_onnx.py into ONNX Runtime's fused contrib ops.

    import fuse_graph
    fused = fuse_graph.fuse(model)      # model: the onnx.ModelProto build_model() returned

The input is the plain graph (standard ONNX ops, opset 17) that convert_onnx.build_model emits,
fp32 or int8, from any weights of the all-MiniLM-L6-v2 shape (so also fine-tuned ones). Its node
structure and tensor names are fixed (l{i}_q, l{i}_attn_ln, l{i}_ffn_out_acc, ...), and this
module finds each piece by those names, checks the operator that makes it and the constants that
define its arithmetic (GELU's 0.5 / sqrt(2) / 1, the attention scale, the mask's fill value),
and raises FuseError naming the tensor when anything differs, rather than guessing.

What it emits (operators from the com.microsoft domain, version 1, which ONNX Runtime's CPU
provider implements):
  * fp32 only: EmbedLayerNormalization, word + position embeddings + LayerNorm in one node. The
    graph has no token-type input (type 0 always), so row 0 of the token-type table is added into
    the position table once, here; position ids are 0..seq-1, the op's default. It adds in another
    order (word + (position + type) instead of (word + type) + position) and normalises with its
    own loops, so it is not the plain graph to the bit (1.5e-7 in fp32). The int8 graph keeps the
    plain embeddings (Gather, two Adds, LayerNormalization): there those last bits move a few
    activation codes in every layer after, enough to move the fine-tuned int8 graph's worst demo
    article against fp32 from the plain graph's 0.0163 to 0.0169 (0.0202 together with the scale
    order below; tests/integration/precision.rs allows 0.02; BENCHMARKS.md, "Fused graphs").
  * MultiHeadAttention: scaled scores, the key mask, softmax and the weighted sum of V in one
    node, after Q, K and V as one [384, 1152] matmul (and a Split: the CPU kernel does not take
    packed Q/K/V). The mask is the raw 1/0 attention_mask (cast to int32 once); padded keys get
    the plain graph's fill value (float32 min), so they weigh exactly 0. The Attention op (which
    also does the Q/K/V matmul) is not used: its CPU kernel runs that matmul as 36 small ones
    per sequence and was 25 % slower per layer here (BENCHMARKS.md, "Fused graphs").
  * BiasGelu: bias + exact (erf) GELU. FastGelu (tanh) is not used: it is not the same function.
  * Residual add + LayerNorm stay two Adds and LayerNormalization, not SkipLayerNormalization
    (see _residual_ln), and the graph's sequence dimension is left unnamed so that ONNX
    Runtime's own optimizer, which fuses Add + LayerNormalization into SkipLayerNormalization
    only when it can prove both Add inputs have the same named shape, leaves them alone.
  * int8 only: per-token activation quantisation in as few nodes as the arithmetic allows, and
    MatMulIntegerToFloat for the integer matmul, its int32 -> float conversion and the row scale:
        y = x * (1 / s)                       SmoothQuant balancing, per channel
        scale = max(ReduceMax(|y|), 1e-12) / 127      per token (row), [B, S, 1]
        codes = QuantizeLinear(y / scale, 1, 128)     round half to even, + 128, uint8
        out = MatMulIntegerToFloat(codes, W_int8, a_scale = scale, b_scale = 1) * col_scale
    The codes are the plain graph's to the bit (same division, same rounding); the Round, Add,
    Clip, Cast of codes and the Cast and row-scale Mul after the integer matmul are gone. The FFN
    output layer's input (GELU output + shift, >= 0) uses 255 levels and zero point 0
    (QuantizeLinear saturates at 0, so the plain graph's Relu guard is not needed). Every scale is
    per token: a token's codes depend on that token's vector alone, so padding and batch
    neighbours change nothing, as in the plain int8 graph.
    The column scale stays a Mul of its own: ONNX Runtime applies a non-scalar a_scale last, so
    given both scales it computes (acc * col) * row where the plain graph computes
    (acc * row) * col, and that last-bit difference drifts as EmbedLayerNormalization's does (worst
    demo article against fp32: 0.0182 with both scales given and the plain embeddings, 0.0202
    with EmbedLayerNormalization too). With the plain embeddings and this order the int8 graph's
    output is the plain int8 graph's bit for bit (checked on 128 demo paragraphs with ONNX Runtime
    1.32 here: MultiHeadAttention, BiasGelu and QuantizeLinear are exact), so it keeps the plain
    graph's agreement with fp32. For the same reason the bias is not given to
    MatMulIntegerToFloat (ONNX Runtime would add it before the row scale) but to the node that
    follows (MultiHeadAttention, BiasGelu or the residual Add). Not done: folding the attention
    output layer's 1/s into V's column scales and bias. It is exact in real arithmetic and saves
    6 Mul nodes, but its different rounding moved one demo article's mean stance by 0.0206 against
    fp32 (tests/integration/precision.rs allows 0.02).

Output bytes are deterministic: nodes are emitted in a fixed order with fixed names, new
initializers are computed with numpy in fixed precision, and unchanged ones are copied as they
are. The word-embedding table keeps its name (embeddings.word_embeddings.weight): stancemeter
shares one copy of it between sessions by that name.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS_DOMAIN = "com.microsoft"
MS_OPSET = 1
LAYER_PREFIX = "encoder.layer"
WORD_TABLE = "embeddings.word_embeddings.weight"

# The operators a fused graph must contain, per layer (convert_onnx.py --verify checks them;
# tests/integration/graph.rs checks the same figures in the fetched graphs).
FUSED_PER_LAYER = {
    "fp32": {"MultiHeadAttention": 1, "BiasGelu": 1, "LayerNormalization": 2, "MatMul": 4},
    "int8": {"MultiHeadAttention": 1, "BiasGelu": 1, "LayerNormalization": 2, "MatMulIntegerToFloat": 4,
             "QuantizeLinear": 4},
}
# ... and once per graph: the embeddings (fused in fp32 only, see above) and the input Casts.
FUSED_ONCE = {
    "fp32": {"EmbedLayerNormalization": 1, "Cast": 2},
    "int8": {"EmbedLayerNormalization": 0, "Gather": 1, "Cast": 1},
}
# Operators the plain graph spends on what the fused ops do; a fused graph has none of them
# (the int8 graph keeps the embedding lookup, Gather).
UNFUSED = ("Softmax", "Erf", "Transpose", "Reshape", "Gather", "MatMulInteger", "Round", "Clip", "Relu")


class FuseError(ValueError):
    """The graph is not the one convert_onnx.build_model emits."""


class _Source:
    """The plain graph, read by tensor name."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.inits = {t.name: t for t in model.graph.initializer}

    def node(self, tensor: str, op_type: str) -> onnx.NodeProto:
        node = self.producer.get(tensor)
        if node is None or node.op_type != op_type:
            found = "nothing" if node is None else node.op_type
            raise FuseError(f"fuse_graph: expected {tensor} to be made by {op_type}, found {found}")
        return node

    def init(self, name: str) -> onnx.TensorProto:
        if name not in self.inits:
            raise FuseError(f"fuse_graph: expected an initializer {name}")
        return self.inits[name]

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.init(name))

    def scalar(self, name: str) -> float:
        arr = self.array(name)
        if arr.size != 1:
            raise FuseError(f"fuse_graph: constant {name} has shape {arr.shape}, expected one value")
        return float(arr.reshape(-1)[0])

    def expect_scalar(self, name: str, value: float) -> None:
        if self.array(name).dtype != np.float32 or self.scalar(name) != float(np.float32(value)):
            raise FuseError(f"fuse_graph: constant {name} is {self.scalar(name)!r}, expected {value!r}")

    def has(self, tensor: str) -> bool:
        return tensor in self.producer


def _attr(node: onnx.NodeProto, name: str):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    raise FuseError(f"fuse_graph: node {node.name} has no attribute {name}")


class _Builder:
    """The fused graph: nodes and initializers in the order they are added."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise AssertionError(f"fuse_graph: name {name} used twice")
        self._names.add(name)

    def keep(self, name: str) -> str:
        """An initializer of the plain graph, copied unchanged."""
        self._claim(name)
        self.inits.append(self.source.init(name))
        return name

    def const(self, name: str, arr: np.ndarray) -> str:
        self._claim(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, ms: bool = False, **attrs) -> str:
        """One node with one output, named after its position and type."""
        self._claim(output)
        name = f"f{len(self.nodes) + 1:04d}_{op_type}"
        domain = MS_DOMAIN if ms else None
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, domain=domain, **attrs))
        return output


# --------------------------------------------------------------------------
# reading the plain graph
# --------------------------------------------------------------------------
def _layer_norm(src: _Source, tensor: str) -> tuple[str, str, str, float]:
    """(input, gamma, beta, epsilon) of the LayerNormalization that makes tensor."""
    node = src.node(tensor, "LayerNormalization")
    if _attr(node, "axis") != -1:
        raise FuseError(f"fuse_graph: {tensor} normalises axis {_attr(node, 'axis')}, expected -1")
    return node.input[0], node.input[1], node.input[2], float(_attr(node, "epsilon"))


def _residual(src: _Source, tensor: str) -> tuple[str, str]:
    """(branch, residual) of the residual Add that makes tensor."""
    node = src.node(tensor, "Add")
    return node.input[0], node.input[1]


def _fp32_linear(src: _Source, tensor: str) -> tuple[str, str, str]:
    """(input, weight [in, out], bias) of `tensor = input @ weight + bias`."""
    add = src.node(tensor, "Add")
    mm = src.node(add.input[0], "MatMul")
    return mm.input[0], mm.input[1], add.input[1]


def _int8_linear(src: _Source, tag: str) -> dict:
    """Names of the pieces of one int8 linear layer of the plain graph (convert_onnx.linear_int8):
    its input before smoothing, the 1/s, the shift (shifted layer only), the int8 weights, their
    column scales and the bias."""
    add = src.node(tag, "Add")
    scaled = src.node(add.input[0], "Mul")
    row = src.node(scaled.input[0], "Mul")
    acc = src.node(src.node(row.input[0], "Cast").input[0], "MatMulInteger")
    zp_a = int(src.scalar(acc.input[2]))
    shifted = src.has(f"{tag}_shifted")
    if (zp_a, shifted) not in ((128, False), (0, True)):
        raise FuseError(f"fuse_graph: {tag} has activation zero point {zp_a} (shifted input: {shifted})")
    if src.scalar(acc.input[3]) != 0:
        raise FuseError(f"fuse_graph: {tag} weights are not symmetric (zero point {src.scalar(acc.input[3])})")
    shift = src.node(src.node(f"{tag}_nonneg", "Relu").input[0], "Add") if shifted else None
    smooth = src.node(shift.input[0] if shifted else f"{tag}_smoothed", "Mul")
    return {"input": smooth.input[0], "smooth_inv": smooth.input[1], "shift": shift.input[1] if shifted else None,
            "weight": acc.input[1], "col_scale": scaled.input[1], "bias": add.input[1]}


def _check_gelu(src: _Source, tensor: str, inter: str) -> None:
    """tensor = (inter * 0.5) * (erf(inter / sqrt 2) + 1): the exact GELU."""
    out = src.node(tensor, "Mul")
    half = src.node(out.input[0], "Mul")
    one = src.node(out.input[1], "Add")
    div = src.node(src.node(one.input[0], "Erf").input[0], "Div")
    if half.input[0] != inter or div.input[0] != inter:
        raise FuseError(f"fuse_graph: {tensor} is not a GELU of {inter}")
    src.expect_scalar(half.input[1], 0.5)
    src.expect_scalar(one.input[1], 1.0)
    src.expect_scalar(div.input[1], float(np.sqrt(np.float64(2.0))))


def _attention_params(src: _Source, t: str) -> dict:
    """Heads, scale and mask fill value of layer t's attention; checks the mask's arithmetic."""
    split = src.node(f"{t}_q_split", "Reshape")
    heads = int(src.array(split.input[1])[2])
    div = src.node(f"{t}_scores_scaled", "Div")
    masked = src.node(f"{t}_scores_masked", "Add")
    src.node(f"{t}_probs", "Softmax")
    bias = src.node(masked.input[1], "Unsqueeze")
    fill = src.node(bias.input[0], "Mul")
    inv = src.node(fill.input[0], "Sub")
    if src.node(inv.input[1], "Cast").input[0] != "attention_mask":
        raise FuseError(f"fuse_graph: {t}'s attention bias does not come from attention_mask")
    src.expect_scalar(inv.input[0], 1.0)
    return {"heads": heads, "scale": float(np.float32(1.0) / np.float32(src.scalar(div.input[1]))),
            "fill": src.scalar(fill.input[1])}


def _embedding_parts(src: _Source) -> dict:
    """The plain graph's embeddings, checked: LayerNorm((word + type row 0) + position rows
    0..seq-1). Returns the nodes of the two Adds and the position Slice, and the LayerNorm's
    gamma, beta and epsilon."""
    x, gamma, beta, eps = _layer_norm(src, "emb_ln")
    total = src.node(x, "Add")
    word_tt = src.node(total.input[0], "Add")
    word = src.node(word_tt.input[0], "Gather")
    pos = src.node(total.input[1], "Slice")
    if word.input[0] != WORD_TABLE or word.input[1] != "input_ids":
        raise FuseError("fuse_graph: emb_word is not a Gather of input_ids from " + WORD_TABLE)
    # rows 0..seq-1 of the position table: Slice(table, [0], Shape(input_ids)[1:2], [0])
    if (int(src.array(pos.input[1])[0]) != 0 or int(src.array(pos.input[3])[0]) != 0
            or src.node(pos.input[2], "Shape").input[0] != "input_ids"):
        raise FuseError("fuse_graph: emb_pos does not take rows 0..seq-1 of the position table")
    return {"total": total, "word_tt": word_tt, "pos": pos, "gamma": gamma, "beta": beta, "eps": eps}


def _layers(src: _Source) -> int:
    n = 0
    while src.has(f"l{n}_out_ln"):
        n += 1
    if n == 0:
        raise FuseError("fuse_graph: no encoder layer (l0_out_ln) found")
    return n


# --------------------------------------------------------------------------
# writing the fused graph
# --------------------------------------------------------------------------
def _plain_embeddings(src: _Source, out: _Builder) -> tuple[str, str]:
    """The plain graph's embeddings, node for node (int8, see above); returns (hidden states, int32 mask)."""
    e = _embedding_parts(src)
    total, word_tt, pos = e["total"], e["word_tt"], e["pos"]
    mask = out.op("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    seq = out.op("Shape", ["input_ids"], pos.input[2], start=1, end=2)
    rows = out.op("Slice", [out.keep(pos.input[0]), out.keep(pos.input[1]), seq, out.keep(pos.input[3])], total.input[1])
    words = out.op("Gather", [out.keep(WORD_TABLE), "input_ids"], word_tt.input[0], axis=0)
    x = out.op("Add", [out.op("Add", [words, out.keep(word_tt.input[1])], total.input[0]), rows], total.output[0])
    ln = out.op("LayerNormalization", [x, out.keep(e["gamma"]), out.keep(e["beta"])], "emb_ln", axis=-1, epsilon=e["eps"])
    return ln, mask


def _embeddings(src: _Source, out: _Builder) -> tuple[str, str]:
    """EmbedLayerNormalization (fp32); returns (hidden states, int32 mask)."""
    e = _embedding_parts(src)
    positions = (src.array(e["pos"].input[0]) + src.array(e["word_tt"].input[1])).astype(np.float32)
    ids = out.op("Cast", ["input_ids"], "input_ids_i32", to=TensorProto.INT32)
    mask = out.op("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    table = out.keep(WORD_TABLE)
    positions = out.const("embeddings.position_embeddings.weight+token_type_row0", positions)
    out._claim("emb_mask_index")
    name = f"f{len(out.nodes) + 1:04d}_EmbedLayerNormalization"
    out._claim("emb_ln")
    out.nodes.append(helper.make_node(
        "EmbedLayerNormalization", [ids, "", table, positions, "", out.keep(e["gamma"]), out.keep(e["beta"])],
        ["emb_ln", "emb_mask_index"], name=name, domain=MS_DOMAIN, epsilon=e["eps"]))
    return "emb_ln", mask


def _residual_ln(src: _Source, out: _Builder, ln: str, branch: str, bias: str, last: bool) -> str:
    """`ln = LayerNorm((branch + bias) + residual)`, as in the plain graph.

    Not SkipLayerNormalization: ONNX Runtime 1.32's CPU kernel for it is a scalar loop with a
    division per element, about 8x slower here than these two Adds and LayerNormalization
    (BENCHMARKS.md, "Fused graphs"); see fuse() for how ORT is kept from fusing them itself.
    """
    res, gamma, beta, eps = _layer_norm(src, ln)
    _, residual = _residual(src, res)
    y = out.op("Add", [out.op("Add", [branch, bias], f"{ln}_biased"), residual], res)
    return out.op("LayerNormalization", [y, out.keep(gamma), out.keep(beta)], "last_hidden_state" if last else ln,
                  axis=-1, epsilon=eps)


def _mha(out: _Builder, qkv: str, bias: str, t: str, a: dict, mask: str) -> str:
    """Split of the [B, S, 3H] projections and MultiHeadAttention with the Q/K/V bias."""
    q, k, v = (f"{t}_{n}" for n in "qkv")
    for n in (q, k, v):
        out._claim(n)
    out.nodes.append(helper.make_node("Split", [qkv, "const_split_qkv"], [q, k, v],
                                      name=f"f{len(out.nodes) + 1:04d}_Split", axis=-1))
    return out.op("MultiHeadAttention", [q, k, v, bias, mask], f"{t}_ctx_merged", ms=True,
                  num_heads=a["heads"], scale=a["scale"], mask_filter_value=a["fill"])


def _fp32_layer(src: _Source, out: _Builder, i: int, mask: str, last: bool) -> str:
    t, p = f"l{i}", f"{LAYER_PREFIX}.{i}"
    parts = [_fp32_linear(src, f"{t}_{n}") for n in "qkv"]
    x = parts[0][0]
    if any(part[0] != x for part in parts):
        raise FuseError(f"fuse_graph: {t}'s Q, K and V do not share one input")
    w = np.concatenate([src.array(part[1]) for part in parts], axis=1)
    b = np.concatenate([src.array(part[2]) for part in parts])
    a = _attention_params(src, t)
    mm = out.op("MatMul", [x, out.const(f"{p}.attention.self.qkv.weight_t", w)], f"{t}_qkv_mm")
    ctx = _mha(out, mm, out.const(f"{p}.attention.self.qkv.bias", b), t, a, mask)
    attn_in, attn_w, attn_b = _fp32_linear(src, f"{t}_attn_out")
    if attn_in != f"{t}_ctx_merged":
        raise FuseError(f"fuse_graph: {t}_attn_out does not read {t}_ctx_merged")
    mm = out.op("MatMul", [ctx, out.keep(attn_w)], f"{t}_attn_out_mm")
    x1 = _residual_ln(src, out, f"{t}_attn_ln", mm, out.keep(attn_b), False)
    inter_in, inter_w, inter_b = _fp32_linear(src, f"{t}_inter")
    _check_gelu(src, f"{t}_gelu", f"{t}_inter")
    mm = out.op("MatMul", [x1, out.keep(inter_w)], f"{t}_inter_mm")
    gelu = out.op("BiasGelu", [mm, out.keep(inter_b)], f"{t}_gelu", ms=True)
    _, ffn_w, ffn_b = _fp32_linear(src, f"{t}_ffn_out")
    mm = out.op("MatMul", [gelu, out.keep(ffn_w)], f"{t}_ffn_out_mm")
    return _residual_ln(src, out, f"{t}_out_ln", mm, out.keep(ffn_b), last)


def _quantized_matmul(out: _Builder, y: str, tag: str, weight: str, b_scale: str, levels: float) -> str:
    """Per-token codes of y (already smoothed / shifted) and the integer matmul, scaled, no bias."""
    if levels == 127.0:
        amax = out.op("ReduceMax", [out.op("Abs", [y], f"{tag}_abs")], f"{tag}_amax", axes=[-1], keepdims=1)
        zp = "const_zp_u8_128"
    else:  # shifted input, already >= 0
        amax = out.op("ReduceMax", [y], f"{tag}_amax", axes=[-1], keepdims=1)
        zp = "const_zp_u8_0"
    amax = out.op("Max", [amax, "const_tiny"], f"{tag}_amax_pos")
    scale = out.op("Div", [amax, "const_127" if levels == 127.0 else "const_255"], f"{tag}_scale")
    codes = out.op("QuantizeLinear", [out.op("Div", [y, scale], f"{tag}_levels"), "const_one", zp], f"{tag}_u8")
    # row scale inside (b_scale 1), column scale after: (acc * row) * col, the plain graph's order
    rows = out.op("MatMulIntegerToFloat", [codes, weight, scale, "const_one", zp], f"{tag}_row_scaled", ms=True)
    return out.op("Mul", [rows, b_scale], f"{tag}_mm")


def _int8_layer(src: _Source, out: _Builder, i: int, mask: str, last: bool) -> str:
    t = f"l{i}"
    qkv, attn, inter, ffn = (_int8_linear(src, f"{t}_{n}") for n in ("qkv", "attn_out", "inter", "ffn_out"))
    a = _attention_params(src, t)

    def linear(x: str, part: dict, tag: str) -> str:
        """Smoothing, per-token codes and the integer matmul of one layer, scaled, no bias."""
        y = out.op("Mul", [x, out.keep(part["smooth_inv"])], f"{tag}_smoothed")
        if part["shift"] is not None:
            y = out.op("Add", [y, out.keep(part["shift"])], f"{tag}_shifted")
        return _quantized_matmul(out, y, tag, out.keep(part["weight"]), out.keep(part["col_scale"]),
                                 255.0 if part["shift"] is not None else 127.0)

    ctx = _mha(out, linear(qkv["input"], qkv, f"{t}_qkv"), out.keep(qkv["bias"]), t, a, mask)
    if attn["input"] != ctx:
        raise FuseError(f"fuse_graph: {t}'s attention output layer does not read {ctx}")
    x1 = _residual_ln(src, out, f"{t}_attn_ln", linear(ctx, attn, f"{t}_attn_out"), out.keep(attn["bias"]), False)
    if inter["input"] != x1:
        raise FuseError(f"fuse_graph: {t}_inter does not read {x1}")
    _check_gelu(src, f"{t}_gelu", f"{t}_inter")
    gelu = out.op("BiasGelu", [linear(x1, inter, f"{t}_inter"), out.keep(inter["bias"])], f"{t}_gelu", ms=True)
    if ffn["input"] != gelu or ffn["shift"] is None:
        raise FuseError(f"fuse_graph: {t}_ffn_out is not the shifted layer over {gelu}")
    return _residual_ln(src, out, f"{t}_out_ln", linear(gelu, ffn, f"{t}_ffn_out"), out.keep(ffn["bias"]), last)


def _unnamed_seq(value: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    """A copy of a graph input or output whose second dimension (seq) has no name (see above)."""
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value)
    copy.type.tensor_type.shape.dim[1].Clear()
    return copy


def fuse(model: onnx.ModelProto) -> onnx.ModelProto:
    """The fused graph of a plain one built by convert_onnx.build_model (fp32 or int8)."""
    src = _Source(model)
    int8 = src.has("l0_qkv_acc")
    out = _Builder(src)
    if int8:
        out.const("const_tiny", np.asarray(1e-12, np.float32))
        out.const("const_127", np.asarray(127.0, np.float32))
        out.const("const_255", np.asarray(255.0, np.float32))
        out.const("const_one", np.asarray(1.0, np.float32))  # QuantizeLinear's and b_scale of MatMulIntegerToFloat
        out.const("const_zp_u8_128", np.asarray(128, np.uint8))
        out.const("const_zp_u8_0", np.asarray(0, np.uint8))
    _, mask = (_plain_embeddings if int8 else _embeddings)(src, out)  # layers read tensors by plain-graph names
    layers = _layers(src)
    hidden = src.array("embeddings.LayerNorm.weight").shape[0]
    out.const("const_split_qkv", np.asarray([hidden] * 3, np.int64))
    for i in range(layers):
        (_int8_layer if int8 else _fp32_layer)(src, out, i, mask, i == layers - 1)
    if src.node("last_hidden_state", "Identity").input[0] != f"l{layers - 1}_out_ln":
        raise FuseError("fuse_graph: last_hidden_state is not the last layer's output")

    g = model.graph
    inputs, outputs = [_unnamed_seq(v) for v in g.input], [_unnamed_seq(v) for v in g.output]
    graph = helper.make_graph(out.nodes, g.name, inputs, outputs, initializer=out.inits)
    fused = helper.make_model(
        graph,
        opset_imports=list(model.opset_import) + [helper.make_opsetid(MS_DOMAIN, MS_OPSET)],
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        doc_string=model.doc_string + "; fused with ONNX Runtime contrib ops (models/fuse_graph.py)",
    )
    fused.ir_version = model.ir_version
    return fused


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Nodes per operator type, sorted by name."""
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def check_fused(model: onnx.ModelProto, layers: int) -> list[str]:
    """What is missing for the graph to count as fused (empty when it is)."""
    counts = op_counts(model)
    precision = "int8" if "MatMulIntegerToFloat" in counts else "fp32"
    expected = {op: n * layers for op, n in FUSED_PER_LAYER[precision].items()}
    expected.update(FUSED_ONCE[precision])
    if precision == "int8":
        expected["LayerNormalization"] += 1  # the embeddings' own
    problems = [f"{op}: {counts.get(op, 0)} nodes, expected {n}" for op, n in expected.items() if counts.get(op, 0) != n]
    return problems + [f"{op}: {counts[op]} nodes left, expected none" for op in UNFUSED if op in counts and op not in expected]
