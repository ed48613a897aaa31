"""What embed.py, correct.py and layers.py share: the scoring pipeline of `stancemeter score`
re-done in Python (windows, masked mean pooling, the head), and the measures they report."""
import collections, csv, json
import numpy as np
from tokenizers import Tokenizer

TOKENIZER = Tokenizer.from_file("models/minilm/tokenizer.json")
TOKENIZER.no_truncation()
TOKENIZER.no_padding()


def labeled_texts(split):
    with open(f"data/labeled/{split}.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def content_rows(folder):
    """Content paragraphs of a `stancemeter score` output, with the CSV's formula guard undone."""
    with open(f"{folder}/paragraphs.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "content"]
    for r in rows:
        if r["text"][:1] == "'" and r["text"][1:2] in ("=", "+", "-", "@", "\t", "\r"):
            r["text"] = r["text"][1:]
    return rows


def token_counts(texts):
    return np.array([min(len(TOKENIZER.encode(t).ids), 256) for t in texts], np.float32)


def windows(text):
    ids = TOKENIZER.encode(text, add_special_tokens=False).ids
    if len(ids) <= 254:
        return [[101] + ids + [102]]
    starts = list(range(0, len(ids) - 254, 127)) + [len(ids) - 254]
    return [[101] + ids[s:s + 254] + [102] for s in starts]


def embed(session, texts):
    """L2-normalised paragraph vectors: windows in length-sorted batches of 16, masked mean
    pooling, windows weighted by their token counts."""
    ws = [(i, w) for i, t in enumerate(texts) for w in windows(t)]
    order = sorted(range(len(ws)), key=lambda j: -len(ws[j][1]))
    sums = np.zeros((len(texts), 384))
    for start in range(0, len(order), 16):
        chunk = order[start:start + 16]
        width = max(len(ws[j][1]) for j in chunk)
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros_like(ids)
        for r, j in enumerate(chunk):
            ids[r, :len(ws[j][1])] = ws[j][1]
            mask[r, :len(ws[j][1])] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        for r, j in enumerate(chunk):
            sums[ws[j][0]] += pooled[r].astype(np.float64) * len(ws[j][1])
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


class Head:
    def __init__(self, path):
        with open(path, encoding="utf-8") as handle:
            self.spec = json.load(handle)

    def logits(self, v):
        x = v
        for layer in self.spec["layers"]:
            x = x @ np.asarray(layer["weights"], np.float32).T + np.asarray(layer["bias"], np.float32)
            if layer["activation"] == "relu":
                x = np.maximum(x, 0)
        return x

    def probs(self, v):
        return self.probs_of_logits(self.logits(v))

    def probs_of_logits(self, z):
        x = z / self.spec["temperature"]
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def refined(rows, p_int8, p_fp32, margin):
    """Near-ties (top two int8 probabilities within margin) re-encoded in fp32, as `score`
    does: (paragraphs refined, labels equal to fp32, largest move of an article's word-weighted
    mean stance)."""
    top = np.sort(p_int8, 1)
    chosen = top[:, -1] - top[:, -2] < margin
    stance = lambda p: p[:, 0] - p[:, 2]
    moved = np.where(chosen, 0.0, stance(p_int8) - stance(p_fp32))
    labels = np.where(chosen, p_fp32.argmax(1), p_int8.argmax(1))
    num, den = collections.defaultdict(float), collections.defaultdict(float)
    for r, d in zip(rows, moved):
        num[r["article_id"]] += d * float(r["words"])
        den[r["article_id"]] += float(r["words"])
    worst = max(abs(num[k] / den[k]) for k in num)
    return int(chosen.sum()), float((labels == p_fp32.argmax(1)).mean()), worst
