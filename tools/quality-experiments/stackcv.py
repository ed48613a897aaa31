"""Train-only CV (article-grouped 5-fold and leave-one-batch-out) for the sentence stacking and MIL variants."""
import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from harness import folds_group, art, ytr, batch
from sentagg import meta, fit_mil, mil_pool

Xp = l2n(para('train', 'mean')); S, own = sent('train', 'mean'); S = l2n(S)
def feats_for(P, idx):
    """meta-features for paragraphs idx (bool mask) under head P"""
    pp = softmax(logits(P, Xp)); ps = softmax(logits(P, S)); n = len(Xp)
    mx = np.zeros((n, 3)); mn = np.ones((n, 3)); np.maximum.at(mx, own, ps); np.minimum.at(mn, own, ps)
    return meta(pp, mx, mn)

def stack_fit_predict(tr, te, base, l2m, seed=0):
    # inner OOF on tr
    M = np.zeros((len(ytr), 6)); ai = art.copy(); ai[~tr] = '__none__'
    inner = folds_group(art[tr])
    tr_idx = np.where(tr)[0]
    for m in inner:
        fi = tr_idx[m]; ri = tr_idx[~m]
        Pf = fit(Xp[ri], ytr[ri], seed=seed, **base); M[fi] = feats_for(Pf, None)[fi]
    Q = fit(M[tr], ytr[tr], hidden=None, l2=l2m, steps=1000, lr=0.05)
    P = fit(Xp[tr], ytr[tr], seed=seed, **base)
    return logits(Q, feats_for(P, None)[te]).argmax(1), logits(P, Xp[te]).argmax(1)

def mil_fit_predict(tr, te, l2):
    g_all = np.concatenate([np.arange(len(Xp)), own]); X_all = np.vstack([Xp, S])
    def sub(mask):
        ids = np.where(mask)[0]; remap = -np.ones(len(Xp), int); remap[ids] = np.arange(len(ids))
        keep = mask[g_all]; return X_all[keep], remap[g_all[keep]], len(ids)
    X, g, n = sub(tr); W, b = fit_mil(X, g, n, ytr[tr], l2=l2)
    X2, g2, n2 = sub(te); return mil_pool(X2 @ W.T + b, g2, n2)[0].argmax(1)

out = open('/tmp/quality/res/stackcv.jsonl', 'a')
for scheme in ('article', 'batch'):
    masks = folds_group(art) if scheme == 'article' else [batch == b for b in sorted(set(batch))]
    for base in [dict(hidden=None, l2=1e-3)]:
        pred_s = np.zeros(len(ytr), int); pred_p = np.zeros(len(ytr), int)
        for m in masks:
            ps, pp = stack_fit_predict(~m, m, base, 0.1); pred_s[m] = ps; pred_p[m] = pp
        rec = dict(features='stack(lin P.mean; sentences)', scheme=scheme, stack=macro_f1(ytr, pred_s), para=macro_f1(ytr, pred_p))
        print(rec, flush=True); out.write(json.dumps(rec) + '\n'); out.flush()
    pred = np.zeros(len(ytr), int)
    for m in masks:
        pred[m] = mil_fit_predict(~m, m, 1e-3)
    rec = dict(features='MIL lin l2=1e-3', scheme=scheme, mil=macro_f1(ytr, pred))
    print(rec, flush=True); out.write(json.dumps(rec) + '\n'); out.flush()
