import json, numpy as np, sys
sys.path.insert(0, '/tmp/quality/src')
from lib import *
R = json.load(open('/tmp/quality/res/final_test.json')); names = list(R)
for split, key in (('dev', 'dev_pred'), ('test', 'test_pred')):
    y = labels(split); art = np.array([r['article_id'] for r in load(split)]); ua = np.unique(art)
    idx = {a: np.where(art == a)[0] for a in ua}
    P = {n: np.mean([np.array(s[key]) for s in R[n]['seeds']], 0).argmax(1) for n in names}  # seed-averaged probs
    rng = np.random.default_rng(0); B = 2000
    for n in names[1:]:
        d = []
        for _ in range(B):
            ii = np.concatenate([idx[a] for a in rng.choice(ua, len(ua))])
            d.append(macro_f1(y[ii], P[n][ii]) - macro_f1(y[ii], P[names[0]][ii]))
        print(split, n[:3], 'diff vs F0', round(macro_f1(y, P[n]) - macro_f1(y, P[names[0]]), 4), '95% CI', np.round(np.percentile(d, [2.5, 97.5]), 3))
