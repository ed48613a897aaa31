"""Pooled, L2-normalised paragraph embeddings, as `stancemeter score` computes them, from one
ONNX graph: every paragraph of data/labeled/train.jsonl and dev.jsonl, and the content
paragraphs of CSVDIR/demo-fp32 and CSVDIR/bench-fp32 (`stancemeter score --precision fp32`
outputs of data/demo/articles.jsonl and benches/out/corpus-2000.jsonl).

Run from the repository root with an onnxruntime venv (benches/.venv):
  python embed.py GRAPH.onnx OUT.npz CSVDIR
once for a graph's fp32 file and once for its int8 file; correct.py compares the two.
"""
import csv, json, sys
from pathlib import Path
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
ROOT = Path.cwd()
tok = Tokenizer.from_file(str(ROOT / "models/minilm/tokenizer.json")); tok.no_truncation(); tok.no_padding()
graph, out, csvdir = sys.argv[1], sys.argv[2], sys.argv[3]

def load_rows(d):
    rows = [r for r in csv.DictReader(open(f"{d}/paragraphs.csv")) if r["kind"] == "content"]
    for r in rows:
        if r["text"][:1] == "'" and r["text"][1:2] in ("=", "+", "-", "@", "\t", "\r"):
            r["text"] = r["text"][1:]
    return rows

def windows(text):
    ids = tok.encode(text, add_special_tokens=False).ids
    if len(ids) <= 254:
        return [[101] + ids + [102]]
    starts = list(range(0, len(ids) - 254, 127)) + [len(ids) - 254]
    return [[101] + ids[s:s + 254] + [102] for s in starts]

so = ort.SessionOptions(); so.intra_op_num_threads = 2
sess = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])

def embed(texts):
    ws = [(i, w) for i, t in enumerate(texts) for w in windows(t)]
    order = sorted(range(len(ws)), key=lambda j: -len(ws[j][1]))
    sums = np.zeros((len(texts), 384)); 
    for s in range(0, len(order), 16):
        chunk = order[s:s + 16]; L = max(len(ws[j][1]) for j in chunk)
        ids = np.zeros((len(chunk), L), np.int64); mask = np.zeros_like(ids)
        for r, j in enumerate(chunk):
            t = ws[j][1]; ids[r, :len(t)] = t; mask[r, :len(t)] = 1
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        for r, j in enumerate(chunk):
            sums[ws[j][0]] += pooled[r].astype(np.float64) * len(ws[j][1])
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)

res = {}
for split in ("train", "dev"):
    res[split] = embed([json.loads(l)["text"] for l in open(ROOT / f"data/labeled/{split}.jsonl")])
for name in ("demo", "bench"):
    res[name] = embed([r["text"] for r in load_rows(f"{csvdir}/{name}-fp32")])
np.savez(out, **res)
print("saved", out, {k: v.shape for k, v in res.items()})
