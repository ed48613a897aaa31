"""Per-sentence classification + aggregation: (A) max-aggregation rule, (B) stacking, (C) MIL log-mean-exp."""
import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from harness import folds_group, art, ytr, ydv, batch

def inst(split):
    """instances per paragraph: the paragraph embedding + each sentence embedding (L2-normalised mean pooling)"""
    P = l2n(para(split, 'mean')); S, own = sent(split, 'mean'); S = l2n(S)
    X = np.vstack([P, S]); g = np.concatenate([np.arange(len(P)), own])
    return X, g, len(P)

def fit_mil(X, g, n, y, l2=1e-3, steps=600, lr=0.02, r=1.0, class_weight=True, k=3):
    d = X.shape[1]; W = np.zeros((k, d)); b = np.zeros(k)
    cnt = np.bincount(y, minlength=k).astype(float); cw = n / (k * cnt) if class_weight else np.ones(k)
    sw = cw[y]; tot = sw.sum(); Y = np.eye(k)[y]
    mW = np.zeros_like(W); vW = np.zeros_like(W); mb = np.zeros_like(b); vb = np.zeros_like(b)
    for t in range(1, steps + 1):
        z = X @ W.T + b
        Z, A = mil_pool(z, g, n, r)
        G = (softmax(Z) - Y) * sw[:, None] / tot          # dL/dZ  [n,k]
        gz = G[g] * A                                      # dL/dz  [m,k]
        gW = gz.T @ X + l2 * W; gb = gz.sum(0)
        c1, c2 = 1 - .9 ** t, 1 - .999 ** t
        mW = .9 * mW + .1 * gW; vW = .999 * vW + .001 * gW * gW; W -= lr * (mW / c1) / (np.sqrt(vW / c2) + 1e-8)
        mb = .9 * mb + .1 * gb; vb = .999 * vb + .001 * gb * gb; b -= lr * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return W, b

def mil_pool(z, g, n, r=1.0):
    """Z[p,c] = (1/r) log mean_{i in p} exp(r z[i,c]); A = d Z / d z (softmax within group)"""
    k = z.shape[1]; mx = np.full((n, k), -np.inf)
    np.maximum.at(mx, g, z)
    e = np.exp(r * (z - mx[g])); s = np.zeros((n, k)); np.add.at(s, g, e); cnt = np.bincount(g, minlength=n)[:, None]
    Z = mx + np.log(s / cnt) / r
    A = e / s[g]
    return Z, A

def mil_logits(Wb, split, r=1.0):
    X, g, n = inst(split); W, b = Wb
    return mil_pool(X @ W.T + b, g, n, r)[0]

def sent_probs(P, split):
    S, own = sent(split, 'mean'); return softmax(logits(P, l2n(S))), own

def agg_feats(P, split, idx=None):
    """meta features for stacking from a paragraph head P"""
    Xp = l2n(para(split, 'mean')); S, own = sent(split, 'mean'); S = l2n(S)
    n = len(Xp)
    pp = softmax(logits(P, Xp)); ps = softmax(logits(P, S))
    mx = np.zeros((n, 3)); mn = np.ones((n, 3))
    np.maximum.at(mx, own, ps); np.minimum.at(mn, own, ps)
    return pp, mx, mn

def maxagg(pp, mx, mn):
    q = np.stack([np.maximum(pp[:, 0], mx[:, 0]), np.minimum(pp[:, 1], mn[:, 1]), np.maximum(pp[:, 2], mx[:, 2])], 1)
    return q / q.sum(1, keepdims=True)

def meta(pp, mx, mn):
    L = lambda a: np.log(np.maximum(a, 1e-6))
    return np.hstack([L(pp), L(mx[:, [0, 2]]), L(mn[:, [1]])])

if __name__ == '__main__':
    out = open('/tmp/quality/res/sentagg.jsonl', 'a')
    Xtr = l2n(para('train', 'mean'))
    for base in [dict(hidden=None, l2=1e-3), dict(hidden=128, l2=1e-2)]:
        for sd in ([0] if base['hidden'] is None else [0, 1, 2]):
            P = fit(Xtr, ytr, seed=sd, **base)
            pp, mx, mn = agg_feats(P, 'dev')
            fA = macro_f1(ydv, maxagg(pp, mx, mn).argmax(1))
            # stacking: OOF meta-features on train
            Mtr = np.zeros((len(ytr), 6))
            for m in folds_group(art):
                Pf = fit(Xtr[~m], ytr[~m], seed=sd, **base)
                a, b_, c = agg_feats(Pf, 'train'); Mtr[m] = meta(a, b_, c)[m]
            res = {}
            for l2m in (1e-3, 1e-2, 1e-1):
                Q = fit(Mtr, ytr, hidden=None, l2=l2m, steps=1000, lr=0.05)
                res[l2m] = macro_f1(ydv, logits(Q, meta(pp, mx, mn)).argmax(1))
            rec = dict(base=base, seed=sd, para_only=macro_f1(ydv, pp.argmax(1)), maxagg=fA, stack=res)
            print(rec, flush=True); out.write(json.dumps(rec) + '\n'); out.flush()
    for l2 in (1e-4, 1e-3, 1e-2):
        for r in (1.0, 3.0):
            X, g, n = inst('train'); Wb = fit_mil(X, g, n, ytr, l2=l2, r=r)
            f = macro_f1(ydv, mil_logits(Wb, 'dev', r).argmax(1))
            rec = dict(mil=True, l2=l2, r=r, dev=f); print(rec, flush=True); out.write(json.dumps(rec) + '\n'); out.flush()
