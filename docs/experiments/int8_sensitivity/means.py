"""Per-input-channel mean of every linear layer's input (fp32 numpy forward pass with the shipped
adapter merged, the first N paragraphs of the training split), for study.py's bc= variant.
Run from the repository root; see study.py."""
import json, math, sys
from pathlib import Path
import numpy as np
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(Path.cwd() / "models"))
sys.path.insert(0, str(HERE))
import conv
from tokenizers import Tokenizer
M = Path.cwd() / "models"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
w = conv.load_weights(M / "minilm", M / "heads/default.adapter.safetensors")
tok = Tokenizer.from_file(str(M / "minilm/tokenizer.json")); tok.no_truncation(); tok.no_padding()
lines = (Path.cwd() / "data/labeled/train.jsonl").read_text().splitlines()[:N]
sums, cnt = {}, 0
def seen(tag, x):
    s = x.astype(np.float64).sum(0); sums[tag] = sums[tag] + s if tag in sums else s
def dense(p, x): return x @ w[f"{p}.weight"].T + w[f"{p}.bias"]

erf = np.vectorize(math.erf, otypes=[np.float64])
for line in lines:
    ids = tok.encode(json.loads(line)["text"]).ids[:256]; n = len(ids); cnt += n
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
    x = conv._layer_norm(x + w["embeddings.position_embeddings.weight"][:n], w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for i in range(conv.LAYERS):
        p = f"encoder.layer.{i}"
        seen(f"l{i}_qkv", x)
        q, k, v = (dense(f"{p}.attention.self.{t}", x).reshape(n, conv.HEADS, conv.HEAD_DIM).transpose(1, 0, 2) for t in ("query", "key", "value"))
        sc = q @ k.transpose(0, 2, 1) / math.sqrt(conv.HEAD_DIM)
        pr = np.exp(sc - sc.max(-1, keepdims=True)); pr /= pr.sum(-1, keepdims=True)
        ctx = (pr @ v).transpose(1, 0, 2).reshape(n, conv.HIDDEN)
        seen(f"l{i}_attn_out", ctx)
        x = conv._layer_norm(dense(f"{p}.attention.output.dense", ctx) + x, w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"])
        seen(f"l{i}_inter", x)
        h = dense(f"{p}.intermediate.dense", x)
        h = (0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))).astype(np.float32)
        seen(f"l{i}_ffn_out", h)
        x = conv._layer_norm(dense(f"{p}.output.dense", h) + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
json.dump({k: (v / cnt).tolist() for k, v in sums.items()}, open(HERE / f"means-{N}.json", "w"))
print("tokens", cnt)
