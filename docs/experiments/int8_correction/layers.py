"""int8 drift by kind of layer (docs/quality.md, "Correcting the int8 drift after the fact").

Keeps one kind of linear layer in fp32 in all six blocks (qkv, attn_out, inter, ffn_out; "qk":
Q and K fp32, V int8) and reports, against the fp32 graph's scores, the labels agreeing, the
mean and signed stance difference, its slope per 100 tokens, and the largest article move
after near-ties are re-encoded in fp32. Setup: the int8_sensitivity study's conv.py with
its patch, then v_int8.patch; embed.py's NAME-fp32.npz in the working folder. Run from the
repository root:
  python layers.py NAME ADAPTER CALIBRATION HEAD CSVDIR "base;qkv;qk;attn_out"
"""
import csv, json, sys, collections, time
from pathlib import Path
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, "models")
import conv
name, adapter, calib, headp, csvdir = sys.argv[1:6]
M = Path("models")
w = conv.load_weights(M / "minilm", Path(adapter))
amax = json.loads(Path(calib).read_text())["amax"]
head = json.load(open(headp))
tok = Tokenizer.from_file(str(M / "minilm/tokenizer.json")); tok.no_truncation(); tok.no_padding()
def load_rows(d):
    rows = [r for r in csv.DictReader(open(f"{d}/paragraphs.csv")) if r["kind"] == "content"]
    for r in rows:
        if r["text"][:1] == "'" and r["text"][1:2] in ("=", "+", "-", "@", "\t", "\r"): r["text"] = r["text"][1:]
    return rows
rows = {n: load_rows(f"{csvdir}/{n}-fp32") for n in ("demo", "bench")}
texts = {"dev": [json.loads(l)["text"] for l in open("data/labeled/dev.jsonl")]}
texts.update({n: [r["text"] for r in rows[n]] for n in rows})
def windows(text):
    ids = tok.encode(text, add_special_tokens=False).ids
    if len(ids) <= 254: return [[101] + ids + [102]]
    starts = list(range(0, len(ids) - 254, 127)) + [len(ids) - 254]
    return [[101] + ids[s:s + 254] + [102] for s in starts]
prepared = {s: [(i, win) for i, t in enumerate(ts) for win in windows(t)] for s, ts in texts.items()}
ntok = {s: np.array([min(len(tok.encode(t).ids), 256) for t in ts], np.float32) for s, ts in texts.items()}
def logits(v):
    x = v
    for l in head["layers"]:
        x = x @ np.asarray(l["weights"], np.float32).T + np.asarray(l["bias"], np.float32)
        if l["activation"] == "relu": x = np.maximum(x, 0)
    return x
def probs(z):
    x = z / head["temperature"]; x = x - x.max(1, keepdims=True); e = np.exp(x); return e / e.sum(1, keepdims=True)
def embed(mb, s):
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    sess = ort.InferenceSession(mb, so, providers=["CPUExecutionProvider"])
    ws = prepared[s]; order = sorted(range(len(ws)), key=lambda j: -len(ws[j][1]))
    sums = np.zeros((len(texts[s]), 384))
    for a in range(0, len(order), 16):
        chunk = order[a:a + 16]; L = max(len(ws[j][1]) for j in chunk)
        ids = np.zeros((len(chunk), L), np.int64); mask = np.zeros_like(ids)
        for r, j in enumerate(chunk):
            t = ws[j][1]; ids[r, :len(t)] = t; mask[r, :len(t)] = 1
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        for r, j in enumerate(chunk): sums[ws[j][0]] += pooled[r].astype(np.float64) * len(ws[j][1])
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
fp = np.load(f"{name}-fp32.npz")
F = {s: probs(logits(fp[s])) for s in texts}
def report(label, keep):
    t0 = time.time(); mb = conv.build_model(w, "int8", amax, keep=keep).SerializeToString(); out = [label]
    for s in texts:
        pq = probs(logits(embed(mb, s))); pf = F[s]
        d = (pq[:, 0] - pq[:, 2]) - (pf[:, 0] - pf[:, 2])
        slope = np.polyfit(ntok[s], d, 1)[0] * 100
        o = f"{s}: agr={(pq.argmax(1)==pf.argmax(1)).mean():.4f} |d|={np.abs(d).mean():.4f} bias={d.mean():+.4f} slope/100tok={slope:+.4f}"
        if s in rows:
            srt = np.sort(pq, 1); gap = srt[:, -1] - srt[:, -2]; words = np.asarray([float(r["words"]) for r in rows[s]])
            for m in (0.0, 0.04, 0.08):
                sel = gap < m; dd = np.where(sel, 0, d); lab = np.where(sel, pf.argmax(1), pq.argmax(1))
                num = collections.defaultdict(float); den = collections.defaultdict(float)
                for r, a, wg in zip(rows[s], dd, words): num[r["article_id"]] += a * wg; den[r["article_id"]] += wg
                o += f" m{m:g}:n={sel.sum()},agr={(lab==pf.argmax(1)).mean():.4f},art={max(abs(num[k]/den[k]) for k in num):.4f}"
        out.append(o)
    print("\n   ".join(out), f"({time.time()-t0:.0f}s)", flush=True)
for v in sys.argv[6].split(";"):
    if v == "qk":
        conv.V_INT8 = True; report(v, frozenset(f"l{i}_qkv" for i in range(6))); conv.V_INT8 = False; continue
    if v == "base": report(v, frozenset()); continue
    report(v, frozenset(f"l{i}_{v}" for i in range(6)))
