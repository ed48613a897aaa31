"""Python re-implementation of stancemeter's encoder (windows of 254+2, stride 127) with several poolings."""
import json, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
M = '/work/main/models/minilm/'
WC, WS = 254, 127

class Enc:
    def __init__(self, threads=2):
        self.tok = Tokenizer.from_file(M + 'tokenizer.json')
        self.tok.no_truncation(); self.tok.no_padding()
        self.cls = self.tok.token_to_id('[CLS]'); self.sep = self.tok.token_to_id('[SEP]')
        so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(M + 'model.onnx', so, providers=['CPUExecutionProvider'])

    def windows(self, text):
        ids = self.tok.encode(text, add_special_tokens=False).ids
        n = len(ids)
        if n <= WC:
            starts = [0]
        else:
            starts = []
            k = 0
            while k * WS + WC < n:
                starts.append(k * WS); k += 1
            last = n - WC
            if not starts or starts[-1] != last:
                starts.append(last)
        return [[self.cls] + ids[s:min(s + WC, n)] + [self.sep] for s in starts]

    def hidden(self, wins, bs=32):
        """list of windows -> list of [len, 384] arrays"""
        order = sorted(range(len(wins)), key=lambda i: (-len(wins[i]), i))
        out = [None] * len(wins)
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            L = max(len(wins[i]) for i in idx)
            ids = np.zeros((len(idx), L), np.int64); mask = np.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, :len(wins[i])] = wins[i]; mask[r, :len(wins[i])] = 1
            h = self.sess.run(None, {'input_ids': ids, 'attention_mask': mask})[0]
            for r, i in enumerate(idx):
                out[i] = h[r, :len(wins[i])].astype(np.float32)
        return out

    def pooled(self, texts):
        """returns dict of pooling name -> [n,384] (un-normalised) plus n_windows"""
        allw, owner = [], []
        for p, t in enumerate(texts):
            for w in self.windows(t):
                allw.append(w); owner.append(p)
        hs = self.hidden(allw)
        n = len(texts); D = 384
        s_mean = np.zeros((n, D)); w_mean = np.zeros(n)
        s_excl = np.zeros((n, D)); w_excl = np.zeros(n)
        s_cls = np.zeros((n, D))
        mx = np.full((n, D), -np.inf)
        mx_excl = np.full((n, D), -np.inf)
        for h, p in zip(hs, owner):
            L = h.shape[0]
            s_mean[p] += h.sum(0); w_mean[p] += L  # mean of window * L
            s_cls[p] += h[0] * L
            if L > 2:
                s_excl[p] += h[1:-1].sum(0); w_excl[p] += L - 2
                mx_excl[p] = np.maximum(mx_excl[p], h[1:-1].max(0))
            mx[p] = np.maximum(mx[p], h.max(0))
        wm = np.maximum(w_mean, 1)[:, None]
        out = dict(mean=s_mean / wm, cls=s_cls / wm, max=mx,
                   mean_excl=np.where(w_excl[:, None] > 0, s_excl / np.maximum(w_excl, 1)[:, None], s_mean / wm),
                   max_excl=np.where(np.isfinite(mx_excl), mx_excl, mx))
        return {k: v.astype(np.float32) for k, v in out.items()}

def l2n(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1, n)

def load(split):
    return [json.loads(l) for l in open(f'/work/main/data/labeled/{split}.jsonl')]
