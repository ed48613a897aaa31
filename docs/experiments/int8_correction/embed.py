"""Pooled, L2-normalised paragraph embeddings, as `stancemeter score` computes them, from one
ONNX graph: every paragraph of data/labeled/train.jsonl and dev.jsonl, and the content
paragraphs of CSVDIR/demo-fp32 and CSVDIR/bench-fp32 (`stancemeter score --precision fp32`
outputs of data/demo/articles.jsonl and benches/out/corpus-2000.jsonl).

Run from the repository root with an onnxruntime venv (benches/.venv):
  python docs/experiments/int8_correction/embed.py GRAPH.onnx OUT.npz CSVDIR
once for a graph's fp32 file and once for its int8 file; correct.py compares the two.
"""
import sys
import numpy as np
import onnxruntime as ort
from common import content_rows, embed, labeled_texts

graph, out, csvdir = sys.argv[1:4]
options = ort.SessionOptions()
options.intra_op_num_threads = 2
session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
result = {split: embed(session, labeled_texts(split)) for split in ("train", "dev")}
for name in ("demo", "bench"):
    result[name] = embed(session, [r["text"] for r in content_rows(f"{csvdir}/{name}-fp32")])
np.savez(out, **result)
print("saved", out, {k: v.shape for k, v in result.items()})
