"""Diagnostics: TF-IDF logistic regression (lexical upper-ish reference), ordinal score regression."""
import sys, numpy as np
sys.path.insert(0, '/tmp/quality/src')
from lib import *
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from harness import folds_group, art, batch, ytr, ydv
tr, dv = load('train'), load('dev')
ttr = [r['text'] for r in tr]; tdv = [r['text'] for r in dv]
for C in (1, 10):
    v = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    A = v.fit_transform(ttr); B = v.transform(tdv)
    m = LogisticRegression(C=C, max_iter=2000, class_weight='balanced').fit(A, ytr)
    print('tfidf LR C', C, 'dev', round(macro_f1(ydv, m.predict(B)), 4))
    for scheme in ('article', 'batch'):
        masks = folds_group(art) if scheme == 'article' else [batch == b for b in sorted(set(batch))]
        pred = np.zeros(len(ytr), int)
        for mk in masks:
            v2 = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
            A2 = v2.fit_transform([t for t, k in zip(ttr, mk) if not k])
            m2 = LogisticRegression(C=C, max_iter=2000, class_weight='balanced').fit(A2, ytr[~mk])
            pred[mk] = m2.predict(v2.transform([t for t, k in zip(ttr, mk) if k]))
        print('   ', scheme, round(macro_f1(ytr, pred), 4))
# ordinal: ridge on score
s_tr = np.array([r['score'] for r in tr]); X = l2n(para('train', 'mean')); Xd = l2n(para('dev', 'mean'))
for a in (0.3, 1, 3):
    m = Ridge(alpha=a).fit(X, s_tr); p = m.predict(Xd)
    # thresholds chosen on train OOF
    oof = np.zeros(len(ytr))
    for mk in folds_group(art):
        oof[mk] = Ridge(alpha=a).fit(X[~mk], s_tr[~mk]).predict(X[mk])
    best = max(((macro_f1(ytr, np.where(oof > hi, 0, np.where(oof < lo, 2, 1))), lo, hi)
                for lo in np.arange(-0.3, 0.01, 0.02) for hi in np.arange(0, 0.31, 0.02)))
    _, lo, hi = best
    print('ridge score alpha', a, 'oof', round(best[0], 4), 'dev', round(macro_f1(ydv, np.where(p > hi, 0, np.where(p < lo, 2, 1))), 4), lo, hi)
