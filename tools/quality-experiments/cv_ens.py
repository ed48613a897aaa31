import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from feats import build
from harness import folds_group, art, batch, ytr
from extras import knn_probs
feat = sys.argv[1]; X = build(feat)['train']
out = open('/tmp/quality/res/cv_ens.jsonl', 'a')
for scheme in ('article', 'batch'):
    masks = folds_group(art) if scheme == 'article' else [batch == b for b in sorted(set(batch))]
    n = len(ytr); pl = np.zeros((n, 3)); pm = np.zeros((5, n, 3)); pk = {k: np.zeros((n, 3)) for k in (5, 20)}
    for m in masks:
        pl[m] = softmax(logits(fit(X[~m], ytr[~m], hidden=None, l2=1e-3), X[m]))
        for s in range(5):
            pm[s][m] = softmax(logits(fit(X[~m], ytr[~m], hidden=128, l2=1e-2, seed=s), X[m]))
        for k in pk: pk[k][m] = knn_probs(X[~m], ytr[~m], X[m], k)
    F = lambda p: macro_f1(ytr, p.argmax(1))
    res = {'lin': [F(pl)], 'mlp': [F(pm[s]) for s in range(3)], 'lin+mlp': [F(pl + pm[s]) for s in range(3)],
           '5xmlp': [F(pm.sum(0))], 'lin+5xmlp': [F(pl + pm.mean(0))],
           'lin+knn5 b.25': [F(.75 * pl + .25 * pk[5])], 'mlp+knn5 b.25': [F(.75 * pm[s] + .25 * pk[5]) for s in range(3)],
           'mlp+knn20 b.25': [F(.75 * pm[s] + .25 * pk[20]) for s in range(3)], 'knn5': [F(pk[5])]}
    for k, v in res.items():
        rec = dict(features=feat, scheme=scheme, head=k, cv=v, mean=float(np.mean(v)), sd=float(np.std(v)))
        print(json.dumps(rec), flush=True); out.write(json.dumps(rec) + '\n')
