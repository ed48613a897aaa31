"""Finalists: dev + (once) test. Usage: final.py OUT.json [--test]"""
import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from feats import build
from harness import folds_group
from extras import knn_probs
from segment import classify

FINALISTS = json.load(open('/tmp/quality/finalists.json'))
ytr, ydv, yte = labels('train'), labels('dev'), labels('test')
art_tr = np.array([r['article_id'] for r in load('train')]); art_dv = np.array([r['article_id'] for r in load('dev')])
furn_te = np.array([classify(r['text']) != 'content' for r in load('test')])
furn_dv = np.array([classify(r['text']) != 'content' for r in load('dev')])
do_test = '--test' in sys.argv

def predict_probs(spec, Xtr, y, Xq, seed):
    """averaged member probabilities (uncalibrated), optional kNN blend"""
    ps = []
    for m in spec['members']:
        if m[0] == 'lin':
            ps.append(softmax(logits(fit(Xtr, y, hidden=None, l2=m[1]), Xq)))
        else:
            for j in range(m[3] if len(m) > 3 else 1):
                ps.append(softmax(logits(fit(Xtr, y, hidden=m[1], l2=m[2], seed=seed * 100 + j), Xq)))
    if spec.get('mlp_weight_equal_lin'):   # lin + mean(mlps) with 1:1 weight
        p = (ps[0] + np.mean(ps[1:], 0)) / 2
    else:
        p = np.mean(ps, 0)
    if spec.get('knn'):
        k, beta = spec['knn']; p = (1 - beta) * p + beta * knn_probs(Xtr, y, Xq, k)
    return p

def metrics(y, p, furn=None):
    d = dict(f1=macro_f1(y, p.argmax(1)), acc=float((p.argmax(1) == y).mean()), ece=ece(y, p), nll=nll(y, p),
             brier=float(np.mean(np.sum((p - np.eye(3)[y]) ** 2, 1))),
             per_class=[macro_f1((y == c).astype(int), (p.argmax(1) == c).astype(int), 2) for c in range(3)])
    d['per_class'] = [f1_one(y, p.argmax(1), c) for c in range(3)]
    if furn is not None:
        q = p.copy(); q[furn] = [0, 1, 0]
        d['f1_furniture_rule'] = macro_f1(y, q.argmax(1)); d['ece_furniture_rule'] = ece(y, q)
    return d

def f1_one(y, pred, c):
    tp = np.sum((pred == c) & (y == c)); pp = np.sum(pred == c); r = np.sum(y == c)
    return 0.0 if tp == 0 else float(2 * tp / (pp + r))

def calibrate(p, y):
    z = np.log(np.maximum(p, 1e-12)); T = fit_temperature(z, y); return T

def apply_T(p, T):
    return softmax(np.log(np.maximum(p, 1e-12)) / T)

results = {}
for spec in FINALISTS:
    X = build(spec['feat']); R = results[spec['name']] = {'spec': spec, 'seeds': []}
    for seed in range(3):
        r = {}
        pd = predict_probs(spec, X['train'], ytr, X['dev'], seed)
        T = calibrate(pd, ydv); r['T'] = T
        r['dev_raw'] = metrics(ydv, pd); r['dev_cal_insample'] = metrics(ydv, apply_T(pd, T), furn_dv)
        # cross-fitted dev ECE: T fitted on one half of dev articles, applied to the other
        halves = folds_group(art_dv, 2, seed=seed); pc = np.zeros_like(pd)
        for h in halves:
            pc[h] = apply_T(pd[h], calibrate(pd[~h], ydv[~h]))
        r['dev_cal_crossfit'] = metrics(ydv, pc)
        if do_test:
            pt = predict_probs(spec, X['train'], ytr, X['test'], seed)
            r['test'] = metrics(yte, apply_T(pt, T), furn_te); r['test_raw'] = metrics(yte, pt)
            # refit on train+dev; temperature from 5-fold article-grouped OOF on train+dev
            Xa = np.vstack([X['train'], X['dev']]); ya = np.concatenate([ytr, ydv]); arta = np.concatenate([art_tr, art_dv])
            oof = np.zeros((len(ya), 3))
            for m in folds_group(arta, 5, seed=seed):
                oof[m] = predict_probs(spec, Xa[~m], ya[~m], Xa[m], seed)
            T2 = calibrate(oof, ya); pr = predict_probs(spec, Xa, ya, X['test'], seed)
            r['refit_T'] = T2; r['test_refit'] = metrics(yte, apply_T(pr, T2), furn_te)
            r['test_pred'] = apply_T(pt, T).tolist()
        r['dev_pred'] = apply_T(pd, T).tolist()
        R['seeds'].append(r)
        print(spec['name'], seed, round(r['dev_raw']['f1'], 4), round(r['dev_cal_crossfit']['ece'], 4),
              (round(r['test']['f1'], 4), round(r['test_refit']['f1'], 4)) if do_test else '', flush=True)
    json.dump(results, open(sys.argv[1], 'w'))
