"""Cue counts (easy to port to Rust). Each group's feature = log1p(count)."""
import re
NEG = {'not', 'no', 'never', 'without', 'neither', 'nor', 'none', 'nothing', 'nobody', 'cannot'}
HEDGE = {'may', 'might', 'could', 'perhaps', 'possibly', 'cautious', 'cautiously', 'unclear', 'uncertain',
         'uncertainty', 'tentative', 'tentatively'}
CONTRAST = {'but', 'however', 'yet', 'still', 'despite', 'although', 'though', 'nevertheless'}
COND_WORDS = {'unless', 'until', 'ultimatum'}
COND_PHRASES = ['only if', 'as soon as', 'on condition', 'provided that', 'as long as']
QUOTE_CHARS = '"“”'
GROUPS = ['negation', 'hedge', 'contrast', 'conditional', 'quote', 'question']
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")

def counts(text):
    t = text.lower().replace('’', "'").replace('‘', "'")
    words = WORD.findall(t)
    neg = sum(1 for w in words if w in NEG or w.endswith("n't"))
    hedge = sum(1 for w in words if w in HEDGE)
    contrast = sum(1 for w in words if w in CONTRAST)
    joined = ' ' + ' '.join(words) + ' '
    cond = sum(1 for w in words if w in COND_WORDS) + sum(joined.count(' ' + p + ' ') for p in COND_PHRASES)
    quote = sum(text.count(c) for c in QUOTE_CHARS) / 2.0
    question = text.count('?')
    return [neg, hedge, contrast, cond, quote, question]
