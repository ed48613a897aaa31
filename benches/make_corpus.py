#!/usr/bin/env python3
"""Writes the benchmark corpus: a deterministic JSONL file of news-like articles.

    python3 benches/make_corpus.py --paragraphs 2000 --out benches/out/corpus-2000.jsonl

Every article has 10 paragraphs (the last one fewer when N is not a multiple of 10), and every
paragraph has 60-120 words. Paragraphs are strung together from sentences of the project's
own news text (data/labeled/*.jsonl and data/demo/articles.jsonl), so token lengths and
vocabulary look like real coverage. The same N and seed give the same bytes on every machine:
sentences are read in a fixed order, drawn with Python's seeded `random.Random`, and the JSON
is written with fixed separators. Needs only the Python standard library.

With --syndicated F, a share F of the articles (drawn with the same seed) republish an earlier
article's paragraphs under another outlet, as syndicated wire copy does, half of them with one
paragraph swapped for a local one. F = 0 (the default) writes the same bytes as before.

Output lines: {"id": "bench-000001", "outlet": "...", "paragraphs": ["...", ...]}.
"""

import argparse
import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "data" / "labeled").glob("*.jsonl")) + [REPO / "data" / "demo" / "articles.jsonl"]
PARAGRAPHS_PER_ARTICLE = 10
MIN_WORDS, MAX_WORDS = 60, 120

# Sentence ends: . ! ? (optionally followed by a closing quote or bracket), then space and a
# capital letter, a digit or an opening quote.
SENTENCE_END = re.compile(r"(?<=[.!?])([\"”’')\]]?)\s+(?=[A-Z0-9\"“‘])")

# Text that stancemeter's segmenter (src/segment.rs) would file as page furniture rather than
# content. Sentences containing it are left out, so every generated paragraph is scored.
FURNITURE = (
    "photo", "image:", "picture:", "credit:", "getty images", "/afp", "/reuters", "/pool", "pool/",
    "[video", "(video)", "copyright", "©", "all rights reserved", "read more", "subscribe",
    "sign up", "click here", "follow us", "reporting by", "writing by", "editing by",
    "additional reporting", "compiled by", "editor's note", "editor’s note", "correction:",
    "this story has been updated", "this article has been updated", "this story was updated",
    "read also", "related:", "see also", "download our app", "get our newsletter", "(c) ",
)


def texts():
    """Yields every paragraph text of the source files, in file and line order."""
    for path in SOURCES:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                if isinstance(record.get("paragraphs"), list):
                    yield from record["paragraphs"]
                if isinstance(record.get("text"), str):
                    yield record["text"]


def sentences():
    """Unique sentences of 6-60 words that end like a sentence, in first-seen order."""
    seen = set()
    out = []
    for text in texts():
        text = " ".join(text.split())
        parts = SENTENCE_END.split(text)
        # split() with one capture group alternates sentence, closing mark, sentence, ...
        joined = [parts[0]]
        for i in range(1, len(parts) - 1, 2):
            joined[-1] += parts[i]
            joined.append(parts[i + 1])
        for s in joined:
            s = s.strip()
            words = len(s.split())
            lower = s.lower()
            if not 6 <= words <= 60 or s in seen:
                continue
            if not s.endswith((".", "!", "?", '"', "”", "’", "'", ")")) or s.endswith("|"):
                continue
            if s.startswith("By ") or any(m in lower for m in FURNITURE):
                continue
            seen.add(s)
            out.append(s)
    return out


def paragraph(rng, pool, min_words=MIN_WORDS, max_words=MAX_WORDS):
    """Draws sentences until the paragraph has min_words..max_words words."""
    while True:
        target = rng.randint(min_words, max_words)
        picked, words = [], 0
        while words < target:
            s = pool[rng.randrange(len(pool))]
            n = len(s.split())
            if words + n > max_words:
                break
            picked.append(s)
            words += n
        if min_words <= words <= max_words:
            return " ".join(picked)


def outlets():
    """The demo corpus's outlet names, in first-seen order."""
    names = []
    with (REPO / "data" / "demo" / "articles.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                name = json.loads(line).get("outlet")
                if name and name not in names:
                    names.append(name)
    return names or ["Bench Wire"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paragraphs", type=int, default=2000, metavar="N", help="total paragraphs (default 2000)")
    ap.add_argument("--out", type=Path, required=True, metavar="FILE", help="JSONL file to write")
    ap.add_argument("--seed", type=int, default=20251128, help="random seed (default 20251128)")
    ap.add_argument("--words", default=f"{MIN_WORDS}-{MAX_WORDS}", metavar="MIN-MAX",
                    help=f"words per paragraph (default {MIN_WORDS}-{MAX_WORDS}; 300-600 gives 3-6 encoder windows each)")
    ap.add_argument("--syndicated", type=float, default=0.0, metavar="F",
                    help="share of articles that republish an earlier article (default 0)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.syndicated < 1.0:
        ap.error("--syndicated must be in [0, 1)")
    if args.paragraphs < 1:
        ap.error("--paragraphs must be at least 1")
    try:
        min_words, max_words = (int(x) for x in args.words.split("-"))
    except ValueError:
        ap.error("--words must look like 60-120")
    if not 0 < min_words <= max_words:
        ap.error("--words needs 0 < MIN <= MAX")

    pool = sentences()
    if len(pool) < 100:
        sys.exit(f"make_corpus: only {len(pool)} usable sentences found in {[str(p) for p in SOURCES]}")
    names = outlets()
    rng = random.Random(args.seed)
    articles = (args.paragraphs + PARAGRAPHS_PER_ARTICLE - 1) // PARAGRAPHS_PER_ARTICLE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    left = args.paragraphs
    words = 0
    written = []
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for i in range(articles):
            n = min(PARAGRAPHS_PER_ARTICLE, left)
            if args.syndicated and written and rng.random() < args.syndicated:
                paras = list(rng.choice(written)[:n])
                if rng.random() < 0.5:
                    paras[rng.randrange(len(paras))] = paragraph(rng, pool, min_words, max_words)
            else:
                paras = [paragraph(rng, pool, min_words, max_words) for _ in range(n)]
            written.append(paras)
            words += sum(len(p.split()) for p in paras)
            left -= n
            record = {"id": f"bench-{i + 1:06d}", "outlet": names[i % len(names)], "paragraphs": paras}
            f.write(json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    tmp.replace(args.out)
    print(
        f"make_corpus: wrote {args.out} ({articles} articles, {args.paragraphs} paragraphs, "
        f"{words / args.paragraphs:.1f} words per paragraph, from {len(pool)} sentences)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
