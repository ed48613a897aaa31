"""int8 drift by kind of layer (docs/quality.md, "Correcting the int8 drift after the fact").

Keeps one kind of linear layer in fp32 in all six blocks (qkv, attn_out, inter, ffn_out; "qk":
Q and K fp32, V int8) and reports, against the fp32 graph's scores, the labels agreeing, the
mean and signed stance difference, its slope per 100 tokens, and the paragraphs refined, the
labels kept and the largest article move after near-ties are re-encoded in fp32. Setup: the
int8_sensitivity study's conv.py with its patch, then v_int8.patch, in this folder; embed.py's
NAME-fp32.npz in the working folder. Run from the repository root:
  python docs/experiments/int8_correction/layers.py NAME ADAPTER CALIBRATION HEAD CSVDIR "base;qkv;qk;attn_out"
"""
import json, sys, time
from pathlib import Path
import numpy as np
import onnxruntime as ort
sys.path.insert(0, "models")  # fuse_graph, which conv imports
import conv
from common import Head, content_rows, embed, labeled_texts, refined, token_counts

name, adapter, calibration, head_path, csvdir, variants = sys.argv[1:7]
weights = conv.load_weights(Path("models/minilm"), Path(adapter))
amax = json.loads(Path(calibration).read_text())["amax"]
head = Head(head_path)
rows = {n: content_rows(f"{csvdir}/{n}-fp32") for n in ("demo", "bench")}
texts = {"dev": labeled_texts("dev"), **{n: [r["text"] for r in rows[n]] for n in rows}}
ntok = {s: token_counts(t) for s, t in texts.items()}
fp32 = np.load(f"{name}-fp32.npz")
reference = {s: head.probs(fp32[s]) for s in texts}


def report(label, keep):
    started = time.time()
    graph = conv.build_model(weights, "int8", amax, keep=keep).SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    out = [label]
    for split in texts:
        pq, pf = head.probs(embed(session, texts[split])), reference[split]
        d = (pq[:, 0] - pq[:, 2]) - (pf[:, 0] - pf[:, 2])
        slope = np.polyfit(ntok[split], d, 1)[0] * 100
        line = (f"{split}: agr={(pq.argmax(1) == pf.argmax(1)).mean():.4f} |d|={np.abs(d).mean():.4f} "
                f"bias={d.mean():+.4f} slope/100tok={slope:+.4f}")
        if split in rows:
            for m in (0.0, 0.04, 0.08):
                n, agree, worst = refined(rows[split], pq, pf, m)
                line += f" m{m:g}:n={n},agr={agree:.4f},art={worst:.4f}"
        out.append(line)
    print("\n   ".join(out), f"({time.time() - started:.0f}s)", flush=True)


for variant in variants.split(";"):
    if variant == "base":
        report(variant, frozenset())
    elif variant == "qk":
        conv.V_INT8 = True
        report(variant, frozenset(f"l{i}_qkv" for i in range(6)))
        conv.V_INT8 = False
    else:
        report(variant, frozenset(f"l{i}_{variant}" for i in range(6)))
