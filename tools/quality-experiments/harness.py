import os, sys, json, time, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from feats import build
SEEDS = [0, 1, 2]
GRID = [dict(hidden=None, l2=l) for l in (1e-4, 1e-3, 1e-2)] + [dict(hidden=128, l2=l) for l in (1e-4, 1e-3, 1e-2)]
ytr, ydv = labels('train'), labels('dev')
art = np.array([r['article_id'] for r in load('train')])
batch = np.array([a.split('-')[0] for a in art])

def desc(c):
    s = ('lin' if c.get('hidden') is None else f"mlp{c['hidden']}") + f" l2={c['l2']:g}"
    for k in ('class_weight', 'smooth', 'steps', 'lr'):
        if k in c: s += f" {k}={c[k]}"
    return s

def seeds_for(c):
    return [0] if c.get('hidden') is None else SEEDS   # zero-init linear head is deterministic

def dev_scores(X, c):
    r = []
    for sd in seeds_for(c):
        P = fit(X['train'], ytr, seed=sd, **c); z = logits(P, X['dev'])
        r.append(macro_f1(ydv, z.argmax(1)))
    return r

def folds_group(groups, k=5, seed=0):
    u = np.array(sorted(set(groups))); rng = np.random.default_rng(seed); rng.shuffle(u)
    return [np.isin(groups, u[i::k]) for i in range(k)]

def cv_score(X, c, scheme='article'):
    """out-of-fold macro-F1 on train: 5-fold grouped by article, or leave-one-batch-out (oc/ra/rb/rh)"""
    masks = folds_group(art) if scheme == 'article' else [batch == b for b in sorted(set(batch))]
    res = []
    for sd in seeds_for(c):
        pred = np.zeros(len(ytr), int)
        for m in masks:
            P = fit(X['train'][~m], ytr[~m], seed=sd, **c); pred[m] = logits(P, X['train'][m]).argmax(1)
        res.append(macro_f1(ytr, pred))
    return res

if __name__ == '__main__':
    out = open(sys.argv[1], 'a')
    for name in sys.argv[2:]:
        t = time.time(); X = build(name)
        for c in GRID:
            r = dev_scores(X, c)
            rec = dict(features=name, head=desc(c), cfg=c, dev=r, mean=float(np.mean(r)), sd=float(np.std(r)))
            out.write(json.dumps(rec) + '\n'); out.flush()
        print(name, X['train'].shape, f'{time.time()-t:.0f}s', flush=True)
