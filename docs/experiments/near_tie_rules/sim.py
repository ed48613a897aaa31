"""Near-tie rules for the int8 path's fp32 re-encoding, simulated (issue #16; BENCHMARKS.md,
"A quiet run at margin 0.08").

    B=target/release/stancemeter
    $B score -q data/demo/articles.jsonl --out WORK/demo-int8 --refine-margin 0
    $B score -q data/demo/articles.jsonl --out WORK/demo-fp32 --precision fp32
    (the same for benches/out/corpus-2000.jsonl as WORK/bench-*)
    models/.venv/bin/python docs/experiments/near_tie_rules/sim.py \
        WORK/demo-int8 WORK/demo-fp32 WORK/bench-int8 WORK/bench-fp32

Each rule looks at a paragraph's int8 probabilities only (so a paragraph's result still depends
on its own text alone) and picks the paragraphs whose int8 row is replaced by the fp32 row, which
is what `score` does for near-ties. Printed per corpus: share re-encoded, labels equal to fp32,
largest move of an article's word-weighted mean stance (`stance_mean`). Rules: the shipped
top-two gap, the log ratio of the top two, the norm of d(p_opt - p_skep)/d(logits); last, an
oracle that knows the fp32 rows (a bound on what any rule could save)."""
import csv, sys, math, collections
import numpy as np

def load(path):
    rows = [r for r in csv.DictReader(open(path)) if r['kind'] == 'content']
    return rows

def arrays(rows):
    P = np.array([[float(r['p_optimistic']), float(r['p_neutral']), float(r['p_skeptical'])] for r in rows])
    W = np.array([max(int(r['words']), 1) for r in rows], float)
    A = [r['article_id'] for r in rows]
    return P, W, A

def evaluate(P8, P32, W, A, sel):
    P = np.where(sel[:, None], P32, P8)
    lab = (P.argmax(1) == P32.argmax(1)).mean()
    s = P[:, 0] - P[:, 2]; s32 = P32[:, 0] - P32[:, 2]
    art = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for i, a in enumerate(A):
        art[a][0] += W[i] * s[i]; art[a][1] += W[i] * s32[i]; art[a][2] += W[i]
    worst = max(abs(x - y) / w for x, y, w in art.values())
    return sel.mean(), lab, worst

def gap(P):
    t = np.sort(P, 1)
    return t[:, -1] - t[:, -2]

def logit_gap(P):
    t = np.sort(P, 1)
    return np.log(t[:, -1] / t[:, -2])

def sens(P):
    # || d(p_o - p_s) / d z || for softmax probabilities
    s = P[:, 0] - P[:, 2]
    g = np.stack([P[:, 0] - P[:, 0] * s, -P[:, 1] * s, -P[:, 2] - P[:, 2] * s], 1)
    return np.linalg.norm(g, axis=1)

def main(pairs):
    data = []
    for d8, d32 in pairs:
        r8, r32 = load(d8 + '/paragraphs.csv'), load(d32 + '/paragraphs.csv')
        assert [(r['article_id'], r['paragraph']) for r in r8] == [(r['article_id'], r['paragraph']) for r in r32]
        P8, W, A = arrays(r8); P32, _, _ = arrays(r32)
        data.append((d8, P8, P32, W, A))
    for name, score, grid in [
        ('gap', lambda P: -gap(P), [0, .03, .05, .06, .07, .08, .1]),
        ('logit', lambda P: -logit_gap(P), [.1, .15, .2, .25, .3, .35]),
        ('sens', lambda P: sens(P), [.7, .65, .6, .55, .5, .45, .4]),
    ]:
        for m in grid:
            out = []
            for d8, P8, P32, W, A in data:
                sc = score(P8)
                sel = sc > (-m if name != 'sens' else m)
                f, lab, worst = evaluate(P8, P32, W, A, sel)
                out.append(f'{f*100:5.1f}% {lab*100:6.2f}% {worst:.4f}')
            print(f'{name:6} {m:5}', ' | '.join(out))
    for m1 in [0.03, 0.04, 0.05]:
        for m2 in [0.62, 0.6, 0.58, 0.56, 0.54]:
            out = []
            for d8, P8, P32, W, A in data:
                f, lab, worst = evaluate(P8, P32, W, A, (gap(P8) < m1) | (sens(P8) > m2))
                out.append(f'{f*100:5.1f}% {lab*100:6.2f}% {worst:.4f}')
            print(f'gap<{m1} or sens>{m2}', ' | '.join(out))
    for d8, P8, P32, W, A in data:
        ds = np.abs((P8[:, 0] - P8[:, 2]) - (P32[:, 0] - P32[:, 2]))
        rank = lambda x: np.argsort(np.argsort(x))
        for name, f in [('-gap', -gap(P8)), ('sens', sens(P8))]:
            print('spearman with |stance difference|', d8, name, round(np.corrcoef(rank(f), rank(ds))[0, 1], 3))
    # oracle: greedy by contribution |ds| * w / W_article
    for d8, P8, P32, W, A in data:
        s8 = P8[:, 0] - P8[:, 2]; s32 = P32[:, 0] - P32[:, 2]
        tot = collections.Counter()
        for i, a in enumerate(A): tot[a] += W[i]
        contrib = np.abs(s8 - s32) * W / np.array([tot[a] for a in A])
        order = np.argsort(-contrib)
        for k in [0, 5, 10, 20, 40, 80]:
            sel = np.zeros(len(A), bool); sel[order[:k]] = True
            f, lab, worst = evaluate(P8, P32, W, A, sel)
            print('oracle', d8, k, f'{f*100:.1f}% {lab*100:.2f}% {worst:.4f}')

if __name__ == '__main__':
    a = sys.argv[1:]
    main(list(zip(a[::2], a[1::2])))
