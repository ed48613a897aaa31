import sys, time, json, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from enc import Enc, load, l2n
from sents import split
e = Enc()
for s in ['train', 'dev', 'test']:
    t = time.time()
    rows = load(s)
    sents, owner = [], []
    for p, r in enumerate(rows):
        for x in split(r['text']):
            sents.append(x); owner.append(p)
    P = e.pooled(sents)
    np.savez(f'/tmp/quality/emb/sent_{s}.npz', owner=np.array(owner), **P)
    json.dump(sents, open(f'/tmp/quality/emb/sent_{s}.json', 'w'))
    print(s, len(rows), len(sents), f'{time.time()-t:.1f}s', flush=True)
