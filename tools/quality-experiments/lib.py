import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from enc import load, l2n
LABELS = ['optimistic', 'neutral', 'skeptical']
E = '/tmp/quality/emb/'

def labels(split):
    return np.array([LABELS.index(r['label']) for r in load(split)])

def softmax(z):
    z = z - z.max(1, keepdims=True); e = np.exp(z); return e / e.sum(1, keepdims=True)

def fit(X, y, hidden=None, l2=1e-2, steps=None, lr=None, seed=0, class_weight=True, smooth=0.0, k=3):
    """Mirror of src/score/train.rs::fit (full-batch Adam, L2 on weights only, inverse-frequency
    class weights, He-normal init for the MLP, zero init for the linear head) + label smoothing option."""
    X = X.astype(np.float64); n, d = X.shape
    if steps is None: steps = 600 if hidden is None else 400
    if lr is None: lr = 0.02 if hidden is None else 0.005
    rng = np.random.default_rng(seed)
    if hidden is None:
        P = [[np.zeros((k, d)), np.zeros(k)]]
    else:
        P = [[rng.normal(size=(hidden, d)) * np.sqrt(2 / d), np.zeros(hidden)],
             [rng.normal(size=(k, hidden)) * np.sqrt(2 / hidden), np.zeros(k)]]
    cnt = np.bincount(y, minlength=k).astype(float)
    cw = n / (k * cnt) if class_weight else np.ones(k)
    sw = cw[y]; tot = sw.sum()
    T = np.full((n, k), smooth / k); T[np.arange(n), y] += 1 - smooth
    M = [[np.zeros_like(w), np.zeros_like(b)] for w, b in P]
    V = [[np.zeros_like(w), np.zeros_like(b)] for w, b in P]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        acts = [X]
        for li, (w, b) in enumerate(P):
            z = acts[-1] @ w.T + b
            if li < len(P) - 1: z = np.maximum(z, 0)
            acts.append(z)
        g = softmax(acts.pop()) - T
        g = g * sw[:, None] / tot
        for li in range(len(P) - 1, -1, -1):
            w, b = P[li]; inp = acts[li]
            gw = g.T @ inp + l2 * w; gb = g.sum(0)
            if li > 0:
                g = (g @ w) * (inp > 0)
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
            for j, gr in enumerate((gw, gb)):
                M[li][j] = b1 * M[li][j] + (1 - b1) * gr
                V[li][j] = b2 * V[li][j] + (1 - b2) * gr * gr
                P[li][j] = P[li][j] - lr * (M[li][j] / c1) / (np.sqrt(V[li][j] / c2) + eps)
    return P

def logits(P, X):
    a = X.astype(np.float64)
    for li, (w, b) in enumerate(P):
        a = a @ w.T + b
        if li < len(P) - 1: a = np.maximum(a, 0)
    return a

def macro_f1(y, pred, k=3):
    f = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c)); p = np.sum(pred == c); r = np.sum(y == c)
        pr = tp / p if p else 0; rc = tp / r if r else 0
        f.append(0 if pr + rc == 0 else 2 * pr * rc / (pr + rc))
    return float(np.mean(f))

def ece(y, probs, bins=15):
    top = probs.max(1); pred = probs.argmax(1); n = len(y); e = 0.0
    b = np.minimum((top * bins).astype(int), bins - 1)
    for i in range(bins):
        m = b == i
        if m.any(): e += abs(top[m].sum() - (pred[m] == y[m]).sum()) / n
    return float(e)

def nll(y, probs):
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12))))

def fit_temperature(z, y):
    """Same grid as train.rs::fit_temperature."""
    def f(t): return nll(y, softmax(z / t)) * len(y)
    best = (np.inf, 1.0)
    for i in range(121):
        t = 0.05 * 400 ** (i / 120); v = f(t)
        if v < best[0]: best = (v, t)
    c = best[1]
    for i in range(-50, 51):
        t = c * 1.05 ** (i / 10); v = f(t)
        if v < best[0]: best = (v, t)
    return best[1]

def log_probs_to_logits(p):
    return np.log(np.maximum(p, 1e-12))

# ---- feature building ------------------------------------------------------------
_cache = {}
def para(split, pool='mean'):
    key = ('p', split)
    if key not in _cache: _cache[key] = dict(np.load(E + f'para_{split}.npz'))
    return _cache[key][pool]

def sent(split, pool='mean'):
    key = ('s', split)
    if key not in _cache: _cache[key] = dict(np.load(E + f'sent_{split}.npz'))
    d = _cache[key]; return d[pool], d['owner']

def sent_agg(split, pool='mean'):
    """per paragraph: mean of L2-normalised sentence embeddings, elementwise max of them, n sentences"""
    S, own = sent(split, pool); S = l2n(S)
    n = own.max() + 1
    mean = np.zeros((n, S.shape[1])); mx = np.full((n, S.shape[1]), -np.inf); cnt = np.zeros(n)
    for i, p in enumerate(own):
        mean[p] += S[i]; mx[p] = np.maximum(mx[p], S[i]); cnt[p] += 1
    return mean / cnt[:, None], mx, cnt
