"""Can a fixed correction of the int8 embedding bring its scores back to fp32?
(docs/quality.md, "Correcting the int8 drift after the fact").

  python docs/experiments/int8_correction/correct.py NAME HEAD.json CSVDIR
reads NAME-fp32.npz and NAME-int8.npz (embed.py), fits on the training paragraphs a shift of
the int8 embedding, constant or growing with the token count n (features 1 and n/100, log n,
sqrt(n/100), n/100 and its square), a linear map (ridge) of the embedding, or an affine map of
the head's logits, then scores dev, the demo and the benchmark corpus with
HEAD: labels agreeing with fp32, mean |stance difference|, mean signed difference (bias),
and, with near-ties (top two within m) re-encoded in fp32, the paragraphs refined, the labels
kept and the largest move of an article's word-weighted mean stance. The last block prints
the three worst demo articles at margin 0.08 with the sqrt shift, paragraph by paragraph.
"""
import collections, sys
import numpy as np
from common import Head, content_rows, labeled_texts, refined, token_counts

name, head_path, csvdir = sys.argv[1:4]
F, Q = np.load(f"{name}-fp32.npz"), np.load(f"{name}-int8.npz")
head = Head(head_path)
rows = {n: content_rows(f"{csvdir}/{n}-fp32") for n in ("demo", "bench")}
ntok = {s: token_counts(labeled_texts(s)) for s in ("train", "dev")}
ntok.update({n: token_counts([r["text"] for r in rows[n]]) for n in rows})
FEATURES = {
    "const": lambda n: [np.ones_like(n)],
    "lin": lambda n: [np.ones_like(n), n / 100],
    "log": lambda n: [np.ones_like(n), np.log(n)],
    "sqrt": lambda n: [np.ones_like(n), np.sqrt(n / 100)],
    "quad": lambda n: [np.ones_like(n), n / 100, (n / 100) ** 2],
}


def ridge(split, lam=0.01):
    """A linear map of the int8 embedding onto the fp32 one (ridge, fitted on train)."""
    x = lambda s: np.hstack([Q[s], np.ones((len(Q[s]), 1), np.float32)]).astype(np.float64)
    w = np.linalg.solve(x("train").T @ x("train") + lam * np.eye(385), x("train").T @ F["train"])
    q = (x(split) @ w).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def probs(kind, split):
    """int8 probabilities after the correction KIND."""
    if kind == "logits":  # an affine map of the head's int8 logits onto its fp32 ones
        z = lambda s: np.hstack([head.logits(Q[s]), np.ones((len(Q[s]), 1), np.float32)])
        a = np.linalg.lstsq(z("train"), head.logits(F["train"]), rcond=None)[0]
        return head.probs_of_logits(z(split) @ a)
    return head.probs(ridge(split) if kind == "ridge" else corrected(kind, split))


def corrected(kind, split):
    if kind == "none":
        return Q[split]
    x = lambda s: np.stack(FEATURES[kind](ntok[s]), 1)
    shift = np.linalg.lstsq(x("train"), F["train"] - Q["train"], rcond=None)[0]
    q = Q[split] + x(split) @ shift
    return q / np.linalg.norm(q, axis=1, keepdims=True)


for kind in ["none", *FEATURES, "ridge", "logits"]:
    out = [f"{kind:5s}"]
    for split in ("dev", "demo", "bench"):
        pf, pq = head.probs(F[split]), probs(kind, split)
        d = (pq[:, 0] - pq[:, 2]) - (pf[:, 0] - pf[:, 2])
        line = f"{split}: agr={(pf.argmax(1) == pq.argmax(1)).mean():.4f} |d|={np.abs(d).mean():.4f} bias={d.mean():+.4f}"
        if split in rows:
            for m in (0.0, 0.04, 0.06, 0.08):
                n, agree, worst = refined(rows[split], pq, pf, m)
                line += f" m{m:g}:n={n},agr={agree:.4f},art={worst:.4f}"
        out.append(line)
    print("\n   ".join(out), flush=True)

split = "demo"
pf, pq, raw = head.probs(F[split]), head.probs(corrected("sqrt", split)), head.probs(Q[split])
top = np.sort(pq, 1)
gap = top[:, -1] - top[:, -2]
articles = collections.defaultdict(list)
for i, r in enumerate(rows[split]):
    articles[r["article_id"]].append(i)
move = {k: refined([rows[split][i] for i in idx], pq[idx], pf[idx], 0.08)[2] for k, idx in articles.items()}
for k in sorted(articles, key=lambda k: -move[k])[:3]:
    print(k, f"{move[k]:.4f}", len(articles[k]))
    for i in articles[k]:
        print(f"   words={rows[split][i]['words']:>4} tokens={ntok[split][i]:.0f} gap={gap[i]:.3f} "
              f"fp32={np.round(pf[i], 3)} int8={np.round(raw[i], 3)} corrected={np.round(pq[i], 3)} "
              f"d={(pq[i, 0] - pq[i, 2]) - (pf[i, 0] - pf[i, 2]):+.4f}")
