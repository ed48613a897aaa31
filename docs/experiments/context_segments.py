#!/usr/bin/env python3
"""Does a context segment help? `[CLS] context [SEP] paragraph [SEP]`, pooled over the
paragraph's segment, against the paragraph alone, on the labeled splits.

For each encoder graph (the plain all-MiniLM-L6-v2 and the shipped LoRA fine-tune) and each
context mode, every labeled paragraph is embedded with ONNX Runtime (fp32), a multinomial
logistic-regression head is fitted on train (L2 strength chosen on dev by macro-F1) and scored
on dev, test and test-unseen. The same head recipe is used for every mode, so the comparison
is between inputs, not heads. A paired bootstrap over articles gives an interval for each
mode's gain over `none` on test and test-unseen.

Modes
  none      [CLS] paragraph [SEP]                      (what stancemeter does), pooled over all
  title     [CLS] title [SEP] paragraph [SEP]          segment ids 0 / 1, pooled over segment 1
  prev      [CLS] previous paragraph [SEP] paragraph [SEP]  (the title for an article's first)
  title-t0  as title, but every segment id 0 (the model was trained on single segments only)

The graph takes no token_type_ids, so this script adds that input: the Add of the constant
row 0 of the token-type table becomes an Add of Gather(table, token_type_ids).
Context is cut to its last CONTEXT_TOKENS tokens; a paragraph to what fits in 256 tokens.

Fine-tuning with the context segment was measured separately (docs/quality.md, "Context
segments"); this script covers the frozen encoders only.

Run from the repository root, after models/fetch, in a venv holding models/requirements.txt
and the onnxruntime wheel models/fetch cached (about 20 minutes on 2 cores):

    python3 -m venv /tmp/ctx-venv
    /tmp/ctx-venv/bin/pip install --no-deps --only-binary=:all: --find-links models/.cache \
        -r models/requirements.txt -r benches/requirements.txt
    /tmp/ctx-venv/bin/python docs/experiments/context_segments.py models data/labeled \
        docs/experiments/context_segments.json
"""

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from tokenizers import Tokenizer

CONTEXT_TOKENS = 64
MAX_TOKENS = 256
BATCH = 16
LABELS = ["optimistic", "neutral", "skeptical"]
SPLITS = ["train", "dev", "test", "test-unseen"]
MODES = ["none", "title", "prev", "title-t0"]
L2_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
BOOTSTRAP = 2000


def with_token_types(path: Path, table: np.ndarray) -> bytes:
    model = onnx.load(str(path))
    g = model.graph
    g.input.append(helper.make_tensor_value_info("token_type_ids", onnx.TensorProto.INT64, ["batch", "seq"]))
    g.initializer.append(numpy_helper.from_array(table.astype(np.float32), "tt_table"))
    row0 = "embeddings.token_type_embeddings.row0"
    users = [n for n in g.node if row0 in n.input]
    assert len(users) == 1, f"{path}: expected one user of {row0}, found {len(users)}"
    gather = helper.make_node("Gather", ["tt_table", "token_type_ids"], ["tt_emb"], name="tt_gather")
    users[0].input[list(users[0].input).index(row0)] = "tt_emb"
    idx = list(g.node).index(users[0])
    g.node.insert(idx, gather)
    return model.SerializeToString()


def load_splits(data: Path) -> dict:
    splits = {}
    for name in SPLITS:
        rows = [json.loads(line) for line in (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        by_article = defaultdict(list)
        for r in rows:
            by_article[r["article_id"]].append(r)
        for paras in by_article.values():
            paras.sort(key=lambda r: r["id"])
            for i, r in enumerate(paras):
                r["prev"] = paras[i - 1]["text"] if i > 0 else None
        splits[name] = rows
    return splits


def inputs(tok: Tokenizer, row: dict, mode: str, cls: int, sep: int):
    """(ids, token types, pooling mask) of one paragraph in one mode."""
    para = tok.encode(row["text"], add_special_tokens=False).ids
    if mode == "none":
        para = para[: MAX_TOKENS - 2]
        ids = [cls] + para + [sep]
        return ids, [0] * len(ids), [1] * len(ids)
    context = row["title"] if mode in ("title", "title-t0") or row["prev"] is None else row["prev"]
    ctx = tok.encode(context, add_special_tokens=False).ids[-CONTEXT_TOKENS:]
    para = para[: MAX_TOKENS - 3 - len(ctx)]
    ids = [cls] + ctx + [sep] + para + [sep]
    first = len(ctx) + 2
    types = [0] * first + [0 if mode == "title-t0" else 1] * (len(para) + 1)
    pool = [0] * first + [1] * (len(para) + 1)
    return ids, types, pool


def embed(session: ort.InferenceSession, items: list) -> np.ndarray:
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    out = np.zeros((len(items), 384), dtype=np.float32)
    for start in range(0, len(order), BATCH):
        chunk = order[start : start + BATCH]
        n = max(len(items[i][0]) for i in chunk)
        ids = np.zeros((len(chunk), n), np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        pool = np.zeros((len(chunk), n), np.float32)
        for r, i in enumerate(chunk):
            a, t, p = items[i]
            ids[r, : len(a)] = a
            types[r, : len(a)] = t
            mask[r, : len(a)] = 1
            pool[r, : len(a)] = p
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        v = (hidden * pool[:, :, None]).sum(1) / pool.sum(1, keepdims=True)
        out[chunk] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 400) -> tuple:
    """Multinomial logistic regression, class-balanced, Adam on the full batch."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.01, (x.shape[1], 3)).astype(np.float64)
    b = np.zeros(3)
    weight = len(y) / (3 * np.bincount(y, minlength=3))
    sw = weight[y] / weight[y].sum()
    onehot = np.eye(3)[y]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        z = x @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) * sw[:, None]
        grads = [x.T @ g + l2 * w, g.sum(0)]
        for k, (param, grad) in enumerate(zip((w, b), grads)):
            m[k] = 0.9 * m[k] + 0.1 * grad
            v[k] = 0.999 * v[k] + 0.001 * grad**2
            param -= 0.05 * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    return w, b


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    f1s = []
    for c in range(3):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def bootstrap_gain(y, base, other, groups, seed=7):
    """Paired bootstrap over articles of macro-F1(other) - macro-F1(base): 2.5 and 97.5 %."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(groups))
    index = defaultdict(list)
    for i, g in enumerate(groups):
        index[g].append(i)
    gains = []
    for _ in range(BOOTSTRAP):
        pick = np.concatenate([index[ids[k]] for k in rng.integers(0, len(ids), len(ids))])
        gains.append(macro_f1(y[pick], other[pick]) - macro_f1(y[pick], base[pick]))
    return float(np.percentile(gains, 2.5)), float(np.percentile(gains, 97.5))


def main() -> None:
    models, data, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    from safetensors.numpy import load_file

    table = load_file(str(models / "minilm" / "model.safetensors"))["embeddings.token_type_embeddings.weight"]
    tok = Tokenizer.from_file(str(models / "minilm" / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    splits = load_splits(data)
    ys = {s: np.array([LABELS.index(r["label"]) for r in splits[s]]) for s in SPLITS}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    results = {"context_tokens": CONTEXT_TOKENS, "encoders": {}}
    for name, graph in [("plain", models / "minilm" / "model.onnx"), ("lora", models / "finetuned" / "default.onnx")]:
        session = ort.InferenceSession(with_token_types(graph, table), opts, providers=["CPUExecutionProvider"])
        preds, report = {}, {}
        for mode in MODES:
            t0 = time.time()
            x = {s: embed(session, [inputs(tok, r, mode, cls, sep) for r in splits[s]]) for s in SPLITS}
            took = time.time() - t0
            best = None
            for l2 in L2_GRID:
                w, b = fit(x["train"], ys["train"], l2)
                f = macro_f1(ys["dev"], (x["dev"] @ w + b).argmax(1))
                if best is None or f > best[0]:
                    best = (f, l2, w, b)
            _, l2, w, b = best
            preds[mode] = {s: (x[s] @ w + b).argmax(1) for s in SPLITS}
            report[mode] = {"l2": l2, "embed_s": round(took, 1)}
            report[mode].update({s: round(macro_f1(ys[s], preds[mode][s]), 4) for s in SPLITS[1:]})
            if mode != "none":
                for s in ("test", "test-unseen"):
                    groups = [r["article_id"] for r in splits[s]]
                    lo, hi = bootstrap_gain(ys[s], preds["none"][s], preds[mode][s], groups)
                    report[mode][f"{s}_gain_95"] = [round(lo, 4), round(hi, 4)]
            print(name, mode, report[mode], flush=True)
        results["encoders"][name] = report
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
