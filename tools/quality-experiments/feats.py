import numpy as np
from lib import *
from cues import counts
SPLITS = ['train', 'dev', 'test']

def cue_matrix(split, mode='log1p'):
    C = np.array([counts(r['text']) for r in load(split)], float)
    return np.log1p(C) if mode == 'log1p' else (C > 0).astype(float)

def build(name):
    """returns dict split -> X"""
    out = {}
    if name.startswith('cues'):   # cues[-ind]@alpha+base
        spec, base = name.split('+', 1)
        head_, alpha = spec.split('@'); alpha = float(alpha)
        mode = 'ind' if head_.endswith('ind') else 'log1p'
        B = build(base)
        return {s: np.hstack([B[s], alpha * cue_matrix(s, mode)]) for s in SPLITS}
    if name.startswith('center:') or name.startswith('whiten'):
        kind, base = name.split(':', 1)
        B = build(base); mu = B['train'].mean(0)
        if kind == 'center':
            return {s: l2n(B[s] - mu) for s in SPLITS}
        lam = float(kind[len('whiten'):])
        C = np.cov((B['train'] - mu).T); d = C.shape[0]
        C = (1 - lam) * C + lam * np.trace(C) / d * np.eye(d)
        w, V = np.linalg.eigh(C); W = V @ np.diag(w ** -0.5) @ V.T
        return {s: l2n((B[s] - mu) @ W) for s in SPLITS}
    parts = name.split('+')
    for s in SPLITS:
        blocks = []
        for p in parts:
            if p.startswith('P.'):
                blocks.append(l2n(para(s, p[2:])))
            elif p.startswith('Smean.') or p.startswith('Smax.'):
                kind, pool = p.split('.')
                m, mx, _ = sent_agg(s, pool)
                blocks.append(l2n(m) if kind == 'Smean' else l2n(mx))
            else:
                raise ValueError(p)
        out[s] = np.hstack(blocks).astype(np.float64)
    return out
