"""Head variants on a fixed feature set: wider L2 grid, hidden sizes, class weights off, label smoothing,
ensembles, kNN blend."""
import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from feats import build
from harness import desc, ytr, ydv

def knn_probs(Xtr, ytr, Xq, k=10, exclude_self=False, cw=True):
    S = Xq @ Xtr.T
    if exclude_self: np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, 1)[:, :k]
    cnt = np.bincount(ytr, minlength=3).astype(float); w_c = len(ytr) / (3 * cnt) if cw else np.ones(3)
    P = np.full((len(Xq), 3), 0.1)
    for i in range(len(Xq)):
        for j in idx[i]:
            P[i, ytr[j]] += w_c[ytr[j]] * max(S[i, j], 0)
    return P / P.sum(1, keepdims=True)

if __name__ == '__main__':
    feat = sys.argv[1]; out = open(sys.argv[2], 'a'); part = sys.argv[3]
    X = build(feat)
    def rec(**kw):
        kw['features'] = feat; print(json.dumps(kw), flush=True); out.write(json.dumps(kw) + '\n'); out.flush()
    if part == 'heads':
        cfgs = [dict(hidden=None, l2=l) for l in (3e-5, 3e-4, 3e-3, 3e-2)]
        cfgs += [dict(hidden=h, l2=l) for h in (64, 256) for l in (1e-3, 1e-2, 3e-2)] + [dict(hidden=128, l2=3e-2)]
        cfgs += [dict(hidden=None, l2=1e-3, class_weight=False), dict(hidden=128, l2=1e-2, class_weight=False)]
        cfgs += [dict(hidden=None, l2=1e-3, smooth=0.1), dict(hidden=128, l2=1e-2, smooth=0.1),
                 dict(hidden=None, l2=1e-3, smooth=0.2), dict(hidden=128, l2=1e-2, smooth=0.2)]
        for c in cfgs:
            r = []
            for sd in ([0] if c.get('hidden') is None else [0, 1, 2]):
                P = fit(X['train'], ytr, seed=sd, **c); r.append(macro_f1(ydv, logits(P, X['dev']).argmax(1)))
            rec(head=desc(c), cfg=c, dev=r, mean=float(np.mean(r)), sd=float(np.std(r)))
    if part == 'ens':
        lin_l2 = float(sys.argv[4]); mlp_l2 = float(sys.argv[5])
        Pl = fit(X['train'], ytr, hidden=None, l2=lin_l2); pl = softmax(logits(Pl, X['dev']))
        mlps = [softmax(logits(fit(X['train'], ytr, hidden=128, l2=mlp_l2, seed=s), X['dev'])) for s in range(15)]
        r_lm = [macro_f1(ydv, (pl + mlps[s]).argmax(1)) for s in range(3)]
        rec(head=f'ens lin(l2={lin_l2:g})+mlp128(l2={mlp_l2:g})', dev=r_lm, mean=float(np.mean(r_lm)), sd=float(np.std(r_lm)))
        r5 = [macro_f1(ydv, sum(mlps[5 * g:5 * g + 5]).argmax(1)) for g in range(3)]
        rec(head=f'ens 5x mlp128(l2={mlp_l2:g})', dev=r5, mean=float(np.mean(r5)), sd=float(np.std(r5)))
        r6 = [macro_f1(ydv, (sum(mlps[5 * g:5 * g + 5]) / 5 + pl).argmax(1)) for g in range(3)]
        rec(head=f'ens lin + 5x mlp128 (1:1)', dev=r6, mean=float(np.mean(r6)), sd=float(np.std(r6)))
        for k in (5, 10, 20):
            pk = knn_probs(X['train'], ytr, X['dev'], k)
            rec(head=f'knn k={k} alone', dev=[macro_f1(ydv, pk.argmax(1))])
            for beta in (0.25, 0.5):
                rb = macro_f1(ydv, ((1 - beta) * pl + beta * pk).argmax(1))
                rm = [macro_f1(ydv, ((1 - beta) * mlps[s] + beta * pk).argmax(1)) for s in range(3)]
                rec(head=f'lin(l2={lin_l2:g}) + knn k={k} beta={beta}', dev=[rb], mean=rb, sd=0)
                rec(head=f'mlp128(l2={mlp_l2:g}) + knn k={k} beta={beta}', dev=rm, mean=float(np.mean(rm)), sd=float(np.std(rm)))
