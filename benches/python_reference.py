#!/usr/bin/env python3
"""The yardstick for `stancemeter score`: what a Python user would write to embed the same text.

    benches/.venv/bin/python benches/python_reference.py CORPUS.jsonl              # plain
    benches/.venv/bin/python benches/python_reference.py --optimize-to BEST.onnx --model PLAIN.onnx
    benches/.venv/bin/python benches/python_reference.py --best --model BEST.onnx CORPUS.jsonl

HF `tokenizers` + `onnxruntime`, mean-pooled over the attention mask and L2-normalised, on the
same JSONL articles as stancemeter ({"id", "paragraphs": [...]} or {"id", "text"}); truncation at
256 tokens; batches padded to their longest paragraph. Two pipelines:

  plain  models/minilm/model.onnx with default session options (all graph optimisations, ONNX
         Runtime's default thread count), batches of 32 paragraphs in input order.
  best   (--best) the best Python pipeline we know how to write: the fp32 graph after
         onnxruntime.transformers' optimizer (made once by --optimize-to, not timed), one
         intra-op thread per core (nproc), and paragraphs sorted by token count into batches
         of 32, so padding is minimal; output put back in input order.

--optimize-to runs `optimize_model(PLAIN, model_type="bert", num_heads=12, hidden_size=384,
opt_level=0)`: the optimizer's own fusions (it finds bias-GELU and skip-LayerNorm in the plain
graph that `convert_onnx.py --no-fuse` writes, not our attention), without its ONNX Runtime
pre-pass (opt_level > 0 imports torch); the session applies ONNX Runtime's full optimisation
level when it loads the result anyway. It needs onnx and sympy (benches/requirements.txt).

Prints one line to stdout:
  `python_reference: N paragraphs in S s = R paragraphs/s; encode-only E s = Q paragraphs/s`
S runs from before the model is loaded and the input is read to after the last batch (all but
interpreter start-up and imports; benches/run also times the whole process from outside). E is
tokenising, running and pooling only. --save FILE.npy writes the embeddings for cross-checks.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parent.parent


def read_paragraphs(path):
    """All non-empty paragraphs of a JSONL article file, in file order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            paragraphs = record.get("paragraphs")
            if paragraphs is None:
                paragraphs = [p for p in record.get("text", "").split("\n\n")]
            out.extend(p.strip() for p in paragraphs if p.strip())
    return out


def pooled(session, ids, mask):
    """Mean-pooled, L2-normalised vectors of one padded batch."""
    hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
    weights = mask[:, :, None].astype(np.float32)
    vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def encode_plain(session, tokenizer, texts, batch_size):
    """Batches in input order, padded by the tokenizer."""
    tokenizer.enable_padding()  # pad to the longest sequence of each batch
    vectors = []
    for i in range(0, len(texts), batch_size):
        encodings = tokenizer.encode_batch(texts[i : i + batch_size])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        vectors.append(pooled(session, ids, mask))
    return np.concatenate(vectors) if vectors else np.zeros((0, 384), np.float32)


def encode_sorted(session, tokenizer, texts, batch_size):
    """All paragraphs tokenised at once, sorted by length into batches, output in input order."""
    ids_all = [e.ids for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: len(ids_all[i]))
    out = np.zeros((len(texts), 384), np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(ids_all[r]) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for k, r in enumerate(rows):
            ids[k, : len(ids_all[r])] = ids_all[r]
            mask[k, : len(ids_all[r])] = 1
        out[rows] = pooled(session, ids, mask)
    return out


def optimize(plain, dest):
    """The fp32 graph after onnxruntime.transformers' optimizer, written to dest."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(plain), model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    model.save_model_to_file(str(tmp))
    os.replace(tmp, dest)
    ops = {}
    for node in model.model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    print(f"python_reference: wrote {dest}: {len(model.model.graph.node)} nodes {dict(sorted(ops.items()))}",
          file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path, nargs="?", help="JSONL articles")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "minilm" / "model.onnx")
    ap.add_argument("--tokenizer", type=Path, default=REPO / "models" / "minilm" / "tokenizer.json")
    ap.add_argument("--best", action="store_true", help="the best pipeline (see above); give it the --optimize-to output")
    ap.add_argument("--optimize-to", type=Path, help="write --model after the transformer optimizer here and exit")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--save", type=Path, help="write the embeddings to this .npy file")
    args = ap.parse_args(argv)
    if args.optimize_to:
        optimize(args.model, args.optimize_to)
        return 0
    if args.input is None:
        ap.error("give a JSONL corpus (or --optimize-to)")

    started = time.perf_counter()
    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    tokenizer.enable_truncation(max_length=args.max_length)
    options = ort.SessionOptions()
    if args.best:
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    texts = read_paragraphs(args.input)
    encoding = time.perf_counter()
    encode = encode_sorted if args.best else encode_plain
    vectors = encode(session, tokenizer, texts, args.batch_size)
    done = time.perf_counter()

    if args.save:
        np.save(args.save, vectors)
    n, elapsed, encode_s = len(texts), done - started, done - encoding
    print(f"python_reference: {n} paragraphs in {elapsed:.2f} s = {n / elapsed:.1f} paragraphs/s; "
          f"encode-only {encode_s:.2f} s = {n / encode_s:.1f} paragraphs/s")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
