"""Can a fixed correction of the int8 embedding bring its scores back to fp32?
(docs/quality.md, "Correcting the int8 drift after the fact").

  python correct.py NAME HEAD.json CSVDIR
reads NAME-fp32.npz and NAME-int8.npz (embed.py), fits on the training paragraphs a shift
of the int8 embedding, constant or growing with the token count (1, n/100), log n, sqrt(n/100),
quadratic, then scores dev, the demo and the benchmark corpus with HEAD: labels agreeing
with fp32, mean |stance difference|, mean signed difference (bias), and, with near-ties (top
two within m) re-encoded in fp32, the largest move of an article's word-weighted mean stance.
The last block prints the three worst demo articles paragraph by paragraph.
"""
import csv, json, sys, collections, numpy as np
from tokenizers import Tokenizer
tok = Tokenizer.from_file("models/minilm/tokenizer.json"); tok.no_truncation(); tok.no_padding()
name, headp, csvdir = sys.argv[1:4]
F = np.load(f"{name}-fp32.npz"); Q = np.load(f"{name}-int8.npz")
head = json.load(open(headp))
def logits(v):
    x = v
    for l in head["layers"]:
        x = x @ np.asarray(l["weights"], np.float32).T + np.asarray(l["bias"], np.float32)
        if l["activation"] == "relu": x = np.maximum(x, 0)
    return x
def probs(z):
    x = z / head["temperature"]; x = x - x.max(1, keepdims=True); e = np.exp(x); return e / e.sum(1, keepdims=True)
rows = {n: [r for r in csv.DictReader(open(f"{csvdir}/{n}-fp32/paragraphs.csv")) if r["kind"] == "content"] for n in ("demo", "bench")}
for n in rows:
    for r in rows[n]:
        if r["text"][:1] == "'" and r["text"][1:2] in ("=", "+", "-", "@", "\t", "\r"): r["text"] = r["text"][1:]
texts = {s: [json.loads(l)["text"] for l in open(f"data/labeled/{s}.jsonl")] for s in ("train", "dev")}
texts.update({n: [r["text"] for r in rows[n]] for n in rows})
ntok = {s: np.array([min(len(tok.encode(t).ids), 256) for t in ts], np.float32) for s, ts in texts.items()}
def feats(s, kind):
    L = ntok[s][:, None] / 100.0
    if kind == "lin": return np.hstack([np.ones_like(L), L])
    if kind == "log": return np.hstack([np.ones_like(L), np.log(L * 100)])
    if kind == "sqrt": return np.hstack([np.ones_like(L), np.sqrt(L)])
    if kind == "quad": return np.hstack([np.ones_like(L), L, L * L])
fitset = sys.argv[4].split(",") if len(sys.argv) > 4 else ["train"]
for kind in ("none", "lin", "log", "sqrt", "quad"):
    if kind != "none":
        X = np.vstack([feats(s, kind) for s in fitset]); Y = np.vstack([F[s] - Q[s] for s in fitset])
        B = np.linalg.lstsq(X, Y, rcond=None)[0]
    out = [f"{kind:5s}"]
    for s in ("dev", "demo", "bench"):
        q = Q[s] if kind == "none" else Q[s] + feats(s, kind) @ B
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        pf, pq = probs(logits(F[s])), probs(logits(q))
        sf, sq = pf[:, 0] - pf[:, 2], pq[:, 0] - pq[:, 2]
        o = f"{s}: agr={(pf.argmax(1)==pq.argmax(1)).mean():.4f} |d|={np.abs(sq-sf).mean():.4f} bias={np.mean(sq-sf):+.4f}"
        if s in rows:
            srt = np.sort(pq, 1); gap = srt[:, -1] - srt[:, -2]
            words = np.asarray([float(r["words"]) for r in rows[s]])
            for m in (0.0, 0.04, 0.06, 0.08):
                sel = gap < m; st = np.where(sel, sf, sq); lab = np.where(sel, pf.argmax(1), pq.argmax(1))
                num = collections.defaultdict(float); den = collections.defaultdict(float)
                for r, a, b, wgt in zip(rows[s], st, sf, words):
                    num[r["article_id"]] += (a - b) * wgt; den[r["article_id"]] += wgt
                o += f" m{m:g}:n={sel.sum()},agr={(lab == pf.argmax(1)).mean():.4f},art={max(abs(num[k]/den[k]) for k in num):.4f}"
        out.append(o)
    print("\n   ".join(out), flush=True)
# detail: worst demo article with sqrt
X = np.vstack([feats(s, "sqrt") for s in fitset]); Y = np.vstack([F[s] - Q[s] for s in fitset]); B = np.linalg.lstsq(X, Y, rcond=None)[0]
s = "demo"; q = Q[s] + feats(s, "sqrt") @ B; q = q / np.linalg.norm(q, axis=1, keepdims=True)
pf, pq = probs(logits(F[s])), probs(logits(q)); pq0 = probs(logits(Q[s]))
sf, sq = pf[:, 0] - pf[:, 2], pq[:, 0] - pq[:, 2]
srt = np.sort(pq, 1); gap = srt[:, -1] - srt[:, -2]
arts = collections.defaultdict(list)
for i, r in enumerate(rows[s]): arts[r["article_id"]].append(i)
def artd(idx): 
    w = np.array([float(rows[s][i]["words"]) for i in idx]); st = np.where(gap[idx] < 0.08, sf[idx], sq[idx]); return ((st - sf[idx]) * w).sum() / w.sum()
worst = sorted(arts, key=lambda k: -abs(artd(arts[k])))[:3]
for k in worst:
    print(k, f"{artd(arts[k]):+.4f}", len(arts[k]))
    for i in arts[k]:
        print(f"   w={rows[s][i]['words']:>4} tok={ntok[s][i]:.0f} gap={gap[i]:.3f} fp32={np.round(pf[i],3)} int8={np.round(pq0[i],3)} corr={np.round(pq[i],3)} d={sq[i]-sf[i]:+.4f}")
