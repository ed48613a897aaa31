#!/usr/bin/env python3
"""The int8 arithmetic limit of this CPU for the MiniLM encoder, and the fraction of it reached.

    benches/.venv/bin/python benches/int8_limit.py CORPUS.jsonl [--rate R ...]

1. Peak throughput, measured through ONNX Runtime on this machine, one intra-op thread:
   a MatMulIntegerToFloat (uint8 x int8, the int8 graph's operator) and an fp32 MatMul of the
   FFN's shape [M=1024, K=384] x [384, 1536]; the best of REPEATS runs (the least disturbed by
   other processes) in multiply-accumulates per second (MAC/s). Times the number of cores.
2. Work per paragraph, from the graph's matmul shapes and the corpus's token counts (tokenised
   as stancemeter does: [CLS] + up to 254 tokens + [SEP] per window, one window per paragraph of
   the benchmark corpus): per token and layer 384x1152 (Q/K/V) + 384x384 (attention output) +
   2 x 384x1536 (FFN) int8 MACs, and per sequence and layer 2 x S^2 x 384 fp32 MACs (scores and
   the weighted sum of V, which stay fp32).
3. Limit (paragraphs/s) = cores / (int8 MACs / int8 peak + fp32 MACs / fp32 peak) per paragraph:
   the rate if every matmul ran at the measured peak and nothing else cost anything. Each
   --rate R (paragraphs/s, e.g. stancemeter's encode-only rate from benches/run) is printed as a
   fraction of it.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parent.parent
HIDDEN, INTER, LAYERS, WINDOW = 384, 1536, 6, 256
M, K, N = 1024, HIDDEN, INTER
REPEATS = 100
INT8_PER_TOKEN = LAYERS * (HIDDEN * 3 * HIDDEN + HIDDEN * HIDDEN + 2 * HIDDEN * INTER)


def session(nodes, inputs, inits):
    graph = helper.make_graph(nodes, "peak", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def best_seconds(sess, feed):
    sess.run(None, feed)
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    return min(times)


def peaks():
    """(int8 MAC/s, fp32 MAC/s) of one core through ONNX Runtime."""
    rng = np.random.default_rng(0)
    w8 = rng.integers(-127, 128, size=(K, N), dtype=np.int8)
    int8 = session(
        [helper.make_node("MatMulIntegerToFloat", ["a", "w", "sa", "sw", "za"], ["y"], domain="com.microsoft")],
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [M, K])],
        [numpy_helper.from_array(w8, "w"), numpy_helper.from_array(np.float32(0.01), "sa"),
         numpy_helper.from_array(np.full(N, 0.01, np.float32), "sw"), numpy_helper.from_array(np.uint8(128), "za")])
    a8 = rng.integers(0, 256, size=(M, K), dtype=np.uint8)
    wf = rng.standard_normal((K, N)).astype(np.float32)
    fp32 = session([helper.make_node("MatMul", ["a", "w"], ["y"])],
                   [helper.make_tensor_value_info("a", TensorProto.FLOAT, [M, K])], [numpy_helper.from_array(wf, "w")])
    af = rng.standard_normal((M, K)).astype(np.float32)
    macs = M * K * N
    return macs / best_seconds(int8, {"a": a8}), macs / best_seconds(fp32, {"a": af})


def corpus_work(path):
    """(paragraphs, int8 MACs, fp32 MACs) of a JSONL corpus, one window per paragraph."""
    tok = Tokenizer.from_file(str(REPO / "models" / "minilm" / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    texts = []
    for line in open(path, encoding="utf-8"):
        if line.strip():
            record = json.loads(line)
            texts.extend(p for p in record.get("paragraphs", [record.get("text", "")]) if p.strip())
    lengths = [min(len(e.ids), WINDOW) for e in tok.encode_batch(texts)]
    int8 = sum(lengths) * INT8_PER_TOKEN
    fp32 = sum(LAYERS * 2 * s * s * HIDDEN for s in lengths)
    return len(texts), int8, fp32


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--rate", type=float, action="append", default=[], help="paragraphs/s to express as a fraction")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    peak8, peak32 = peaks()
    n, int8, fp32 = corpus_work(args.corpus)
    per_paragraph_s = (int8 / peak8 + fp32 / peak32) / n
    limit = cores / per_paragraph_s
    print(f"int8_limit: peak per core {peak8 / 1e9:.1f} G int8 MAC/s, {peak32 / 1e9:.1f} G fp32 MAC/s "
          f"(MatMulIntegerToFloat / MatMul {M}x{K}x{N}, best of {REPEATS}); {cores} cores")
    print(f"int8_limit: {n} paragraphs, {int8 / n / 1e9:.3f} G int8 + {fp32 / n / 1e9:.3f} G fp32 MACs per paragraph; "
          f"limit {limit:.1f} paragraphs/s")
    for rate in args.rate:
        print(f"int8_limit: {rate:.1f} paragraphs/s is {100 * rate / limit:.0f}% of the limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
