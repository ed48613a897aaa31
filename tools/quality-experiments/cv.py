import sys, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from feats import build
from harness import cv_score, desc
out = open(sys.argv[1], 'a')
jobs = json.loads(sys.argv[2])   # [[feature, cfg], ...]
for feat, cfg in jobs:
    X = build(feat)
    for scheme in ('article', 'batch'):
        r = cv_score(X, cfg, scheme)
        rec = dict(features=feat, head=desc(cfg), scheme=scheme, cv=r, mean=float(np.mean(r)), sd=float(np.std(r)))
        print(json.dumps(rec), flush=True); out.write(json.dumps(rec) + '\n'); out.flush()
