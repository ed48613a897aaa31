#!/usr/bin/env python3
"""The yardstick for `stancemeter score`: what a Python user would write to embed the same text.

    benches/.venv/bin/python benches/python_reference.py benches/out/corpus-2000.jsonl

HF `tokenizers` + `onnxruntime` on the same graph (models/minilm/model.onnx): tokenize with
the model's tokenizer.json (truncation at 256 tokens, padding to the longest in each batch),
run batches of 32 paragraphs in input order with default session options (all cores, all
graph optimisations), mean-pool the last hidden state over the attention mask, L2-normalise.
Reads the same JSONL articles as stancemeter ({"id", "paragraphs": [...]} or {"id", "text"}).

Prints one line to stdout: `python_reference: N paragraphs in S s = R paragraphs/s`. The clock
starts before the model is loaded and the input is read, and stops after the last batch, so it
covers the whole job except the interpreter start-up and imports (benches/run times the whole
process from outside as well). --save FILE.npy writes the embeddings for cross-checks.
"""

import argparse
import json
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path, help="JSONL articles")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "minilm" / "model.onnx")
    ap.add_argument("--tokenizer", type=Path, default=REPO / "models" / "minilm" / "tokenizer.json")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--save", type=Path, help="write the embeddings to this .npy file")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    tokenizer.enable_truncation(max_length=args.max_length)
    tokenizer.enable_padding()  # pad to the longest sequence of each batch
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    texts = read_paragraphs(args.input)

    vectors = []
    for i in range(0, len(texts), args.batch_size):
        encodings = tokenizer.encode_batch(texts[i : i + args.batch_size])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        vectors.append(pooled)
    elapsed = time.perf_counter() - started

    if args.save:
        np.save(args.save, np.concatenate(vectors) if vectors else np.zeros((0, 384), np.float32))
    n = len(texts)
    print(f"python_reference: {n} paragraphs in {elapsed:.2f} s = {n / elapsed:.1f} paragraphs/s")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
