#!/usr/bin/env python3
"""Splits data/labeled/raw/*.jsonl into train/dev/test/test-unseen by article, deterministically.

Every paragraph of an article lands in the same split.
- test-unseen: every article whose style is in UNSEEN_STYLES. No article of those styles is in
  train, dev or test, so this split measures styles (and the outlets writing in them) that the
  head never learned from: the project's stand-in for "new outlets".
- the rest by the sha256 of the article_id (0-59 train, 60-79 dev, 80-99 test), so adding
  articles never moves old ones.
Each raw row is checked first (check.py); any problem stops the split with FILE:LINE.
Run from anywhere: python3 data/labeled/split.py
"""
import collections
import glob
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import check_row  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ["id", "article_id", "outlet", "title", "text", "label", "score", "style", "topic"]
UNSEEN_STYLES = {"state-media-cn", "regional-mideast", "regional-asia", "regional-africa", "regional-latam"}
SPLITS = ("train", "dev", "test", "test-unseen")


def bucket(article_id, style):
    if style in UNSEEN_STYLES:
        return "test-unseen"
    digest = hashlib.sha256(article_id.encode("utf-8")).hexdigest()
    value = int(digest[:8], 16) % 100
    return "train" if value < 60 else "dev" if value < 80 else "test"


def read_raw():
    rows, seen, styles = [], set(), {}
    for path in sorted(glob.glob(os.path.join(HERE, "raw", "*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{os.path.relpath(path)}:{number}"
                row = json.loads(line)
                problems = list(check_row(row))
                if problems:
                    raise SystemExit(f"{where}: {problems[0]}")
                if row["id"] in seen:
                    raise SystemExit(f"{where}: duplicate id {row['id']}")
                if styles.setdefault(row["article_id"], row["style"]) != row["style"]:
                    raise SystemExit(f"{where}: article {row['article_id']} has two styles")
                seen.add(row["id"])
                rows.append(row)
    return rows


def main():
    splits = collections.defaultdict(list)
    for row in read_raw():
        splits[bucket(row["article_id"], row["style"])].append({k: row[k] for k in FIELDS})
    for name in SPLITS:
        rows = splits[name]
        with open(os.path.join(HERE, f"{name}.jsonl"), "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = collections.Counter(r["label"] for r in rows)
        articles = len({r["article_id"] for r in rows})
        print(f"{name:11} {len(rows):5} paragraphs {articles:4} articles  "
              + "  ".join(f"{k} {counts[k]}" for k in ("optimistic", "neutral", "skeptical")))


if __name__ == "__main__":
    main()
