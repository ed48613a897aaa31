import sys, time, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from enc import Enc, load, l2n
e = Enc()
for s in ['train', 'dev', 'test']:
    t = time.time()
    rows = load(s)
    P = e.pooled([r['text'] for r in rows])
    np.savez(f'/tmp/quality/emb/para_{s}.npz', **P)
    R = np.load(f'/tmp/quality/emb/rust_{s}.npy')
    d = np.abs(l2n(P['mean']) - R).max()
    print(s, len(rows), f'{time.time()-t:.1f}s', 'max |py-rust| mean-pooled', d, flush=True)
