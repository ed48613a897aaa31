#!/usr/bin/env python3
"""Splits data/labeled/raw/*.jsonl into train/dev/test by article, deterministically.

Every paragraph of an article lands in the same split: the split is chosen from the sha256
of the article_id (0-59 train, 60-79 dev, 80-99 test), so adding articles never moves old
ones. Run from anywhere: python3 data/labeled/split.py
"""
import collections
import glob
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ["id", "article_id", "outlet", "title", "text", "label", "score"]


def bucket(article_id):
    digest = hashlib.sha256(article_id.encode("utf-8")).hexdigest()
    value = int(digest[:8], 16) % 100
    return "train" if value < 60 else "dev" if value < 80 else "test"


def main():
    splits = collections.defaultdict(list)
    seen = set()
    for path in sorted(glob.glob(os.path.join(HERE, "raw", "*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if row["id"] in seen:
                    raise SystemExit(f"{path}:{number}: duplicate id {row['id']}")
                if row["label"] not in ("optimistic", "neutral", "skeptical"):
                    raise SystemExit(f"{path}:{number}: bad label {row['label']!r}")
                seen.add(row["id"])
                splits[bucket(row["article_id"])].append({k: row[k] for k in FIELDS})
    for name in ("train", "dev", "test"):
        rows = splits[name]
        with open(os.path.join(HERE, f"{name}.jsonl"), "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = collections.Counter(r["label"] for r in rows)
        articles = len({r["article_id"] for r in rows})
        print(f"{name:5} {len(rows):5} paragraphs {articles:4} articles  " + "  ".join(f"{k} {counts[k]}" for k in ("optimistic", "neutral", "skeptical")))


if __name__ == "__main__":
    main()
