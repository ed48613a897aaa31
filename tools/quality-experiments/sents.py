"""Rule-based sentence splitter (designed to be easy to port to Rust)."""
TERMINATORS = set('.!?…')
CLOSERS = set('"\'”’»)]')
OPENERS = set('"\'“‘«([')
ABBREV = {'mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'gen', 'lt', 'col', 'maj', 'sgt', 'capt', 'cmdr', 'adm',
          'sen', 'rep', 'gov', 'pres', 'amb', 'rev', 'hon', 'jr', 'sr', 'no', 'nos', 'vs', 'etc', 'inc', 'ltd',
          'co', 'corp', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
          'approx', 'dept', 'est', 'fig', 'mt', 'ft', 'op', 'cf'}

def split(text):
    """Split after . ! ? … (plus any closing quotes/brackets) when followed by whitespace and then an
    uppercase letter, a digit or an opening quote/bracket. A '.' does not end a sentence when the word it ends
    is an abbreviation from ABBREV (case-insensitive), a single letter (an initial), or contains another '.'
    (U.S., a.m.)."""
    s = text.strip()
    out, start, i, n = [], 0, 0, len(s)
    while i < n:
        c = s[i]
        if c in TERMINATORS:
            j = i + 1
            while j < n and (s[j] in TERMINATORS or s[j] in CLOSERS):
                j += 1
            if j < n and s[j].isspace():
                k = j
                while k < n and s[k].isspace():
                    k += 1
                if k < n and (s[k].isupper() or s[k].isdigit() or s[k] in OPENERS):
                    ok = True
                    if c == '.':
                        w = i
                        while w > start and not s[w - 1].isspace():
                            w -= 1
                        word = s[w:i].lstrip(''.join(OPENERS))
                        if word.lower() in ABBREV or (len(word) == 1 and word.isalpha()) or '.' in word:
                            ok = False
                    if ok:
                        out.append(s[start:j].strip()); start = k; i = k; continue
            i = j; continue
        i += 1
    if start < n and s[start:].strip():
        out.append(s[start:].strip())
    return out or [s]
