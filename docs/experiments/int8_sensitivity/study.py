"""int8 fidelity study (issue #16, BENCHMARKS.md "Where the rest of the time goes"): how far
the shipped int8 graph's scores are from fp32, and whether a converter variant brings them closer.

Setup (from the repository root, after models/fetch; WORK is any scratch folder):
  git show 036c24a:models/convert_onnx.py > WORK/conv.py
  patch WORK/conv.py docs/experiments/int8_sensitivity/convert_onnx.patch
  cp docs/experiments/int8_sensitivity/{study.py,means.py} WORK/
  target/release/stancemeter score --precision fp32 data/demo/articles.jsonl --out WORK/demo-fp32
  target/release/stancemeter score --precision fp32 benches/out/corpus-2000.jsonl --out WORK/bench-fp32
  models/.venv-verify/bin/python WORK/means.py 300      # only for the bc= variant
  models/.venv-verify/bin/python WORK/study.py demo,bench "base;l0_qkv;a=0.65;asym;bc=WORK/means-300.json"

Variants: base (the shipped graph, unfused); TAG[+TAG...] keeps those linear layers fp32
(l{i}_qkv, l{i}_attn_out, l{i}_inter, l{i}_ffn_out); a=X smoothing exponent X instead of 0.5;
asym per-token [min, max] activation codes; bc=FILE bias correction with the per-channel input
means in FILE. The fp32 reference is the fused fp32 graph; int8 variants run unfused (the plain
int8 graph gives the fused one's bits, models/verify). Each line: labels agreeing with fp32,
mean |stance difference|, the largest article mean-stance difference, and the same after
re-encoding near-ties (top two labels within 0.02 / 0.05 / 0.10) in fp32; n = paragraphs refined.
"""
import csv, json, sys, time, collections
from pathlib import Path
import numpy as np
HERE = Path(__file__).resolve().parent
ROOT = Path.cwd()
sys.path.insert(0, str(ROOT / "models"))   # fuse_graph
sys.path.insert(0, str(HERE))              # conv (the patched converter)
import conv, fuse_graph, onnx
import onnxruntime as ort
from tokenizers import Tokenizer

M = ROOT / "models"
w = conv.load_weights(M / "minilm", M / "heads/default.adapter.safetensors")
amax = json.loads((M / "heads/default.int8-calibration.json").read_text())["amax"]
head = json.loads((M / "heads/default.json").read_text())
tok = Tokenizer.from_file(str(M / "minilm/tokenizer.json")); tok.no_truncation(); tok.no_padding()

def load_rows(d):
    rows = [r for r in csv.DictReader(open(f"{d}/paragraphs.csv")) if r["kind"] == "content"]
    for r in rows:
        if r["text"][:1] == "'" and r["text"][1:2] in ("=", "+", "-", "@", "\t", "\r"):
            r["text"] = r["text"][1:]
    return rows

sets = {}
for name in sys.argv[1].split(","):
    fp = load_rows(HERE / f"{name}-fp32")
    sets[name] = fp

def windows(text):
    ids = tok.encode(text, add_special_tokens=False).ids
    if len(ids) <= 254:
        return [[101] + ids + [102]]
    out = []; starts = list(range(0, len(ids) - 254, 127)) + [len(ids) - 254]
    for s in starts:
        out.append([101] + ids[s:s + 254] + [102])
    return out

prepared = {}
for name, rows in sets.items():
    ws = []
    for i, r in enumerate(rows):
        for win in windows(r["text"]):
            ws.append((i, win))
    prepared[name] = ws

def head_probs(v):
    x = v
    for l in head["layers"]:
        W = np.asarray(l["weights"], dtype=np.float32); b = np.asarray(l["bias"], dtype=np.float32)
        x = x @ W.T + b
        if l["activation"] == "relu": x = np.maximum(x, 0)
    x = x / head["temperature"]
    x = x - x.max(1, keepdims=True); e = np.exp(x); return e / e.sum(1, keepdims=True)

def embed(model_bytes, name):
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    ws = prepared[name]; n = len(sets[name])
    order = sorted(range(len(ws)), key=lambda j: -len(ws[j][1]))
    sums = np.zeros((n, 384)); wts = np.zeros(n)
    for s in range(0, len(order), 16):
        chunk = order[s:s + 16]; L = max(len(ws[j][1]) for j in chunk)
        ids = np.zeros((len(chunk), L), np.int64); mask = np.zeros_like(ids)
        for r, j in enumerate(chunk):
            t = ws[j][1]; ids[r, :len(t)] = t; mask[r, :len(t)] = 1
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        for r, j in enumerate(chunk):
            p = ws[j][0]; k = len(ws[j][1])
            sums[p] += pooled[r].astype(np.float64) * k; wts[p] += k
    v = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return head_probs(v.astype(np.float32))

def build(precision, keep=frozenset()):
    m = conv.build_model(w, precision, amax if precision == "int8" else None, keep=keep)
    return (fuse_graph.fuse(m) if precision == "fp32" else m).SerializeToString()

ref = {name: embed(build("fp32"), name) for name in sets}
for name, rows in sets.items():
    csvp = np.asarray([[float(r["p_optimistic"]), float(r["p_neutral"]), float(r["p_skeptical"])] for r in rows])
    print(f"# {name}: fp32 python vs rust csv max diff {np.abs(ref[name]-csvp).max():.5f}", flush=True)

def report(label, keep):
    t0 = time.time(); out = [label]
    mb = build("int8", keep)
    for name, rows in sets.items():
        p = embed(mb, name); f = ref[name]
        agree = (p.argmax(1) == f.argmax(1)).mean()
        st = p[:, 0] - p[:, 2]; sf = f[:, 0] - f[:, 2]
        art = collections.defaultdict(list)
        for r, a, b in zip(rows, st, sf): art[r["article_id"]].append(a - b)
        worst = max(abs(np.mean(v)) for v in art.values())
        gap = np.sort(p, 1); g2 = gap[:, -1] - gap[:, -2]
        for m_ in (0.02, 0.05, 0.10):
            # refine near-ties at margin m_ -> replace with fp32
            sel = g2 < m_
            st2 = np.where(sel, sf, st); lab = np.where(sel, f.argmax(1), p.argmax(1))
            art2 = collections.defaultdict(list)
            for r, a, b in zip(rows, st2, sf): art2[r["article_id"]].append(a - b)
            out.append(f"{name}@{m_}: n={sel.sum()} agree={(lab==f.argmax(1)).mean():.4f} art={max(abs(np.mean(v)) for v in art2.values()):.4f}")
        out.insert(1, f"{name}: agree={agree:.4f} mean|d|={np.abs(st-sf).mean():.4f} art_max={worst:.4f}")
    print(" | ".join(out), f"({time.time()-t0:.0f}s)", flush=True)

variants = sys.argv[2].split(";") if len(sys.argv) > 2 else ["base"]
for v in variants:
    if v.startswith("bc="):
        conv.MEANS = json.load(open(v[3:])); report(v, frozenset()); conv.MEANS = None; continue
    if v == "asym":
        conv.ASYM = True; report(v, frozenset()); conv.ASYM = False; continue
    if v.startswith("a="):
        conv.ALPHA = float(v[2:]); report(v, frozenset()); conv.ALPHA = 0.5; continue
    keep = frozenset() if v == "base" else frozenset(v.split("+"))
    report(v, keep)
