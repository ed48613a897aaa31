#!/usr/bin/env python3
"""Checks labeled article files: fields, labels, scores, styles, sources, unique ids.

Usage: python3 data/labeled/check.py FILE.jsonl [FILE.jsonl ...]
(data/labeled/split.py runs the same checks over every raw file.)
Prints one line per problem as FILE:LINE: what is wrong, and a summary; exits 1 on any problem.
"""
import collections
import json
import sys

LABELS = ("optimistic", "neutral", "skeptical")
STYLES = {
    "wire", "state-media-ru", "state-media-cn", "ukrainian", "european", "us", "opinion",
    "live-blog", "analysis", "financial", "regional-mideast", "regional-asia",
    "regional-africa", "regional-latam", "regional-caucasus", "explainer", "broadcast", "trade-press",
}
TOPICS = {
    "russia-ukraine", "gaza", "armenia-azerbaijan", "sudan", "drc-rwanda", "trade", "labour",
    "india-pakistan", "thailand-cambodia", "other",
}
REQUIRED = ("id", "article_id", "outlet", "title", "text", "label", "score", "style", "topic",
            "sources")


def check_row(row):
    for key in REQUIRED:
        if key not in row:
            yield f"missing field {key!r}"
    if row.get("label") not in LABELS:
        yield f"label {row.get('label')!r} is not one of {LABELS}"
    score = row.get("score")
    if not isinstance(score, (int, float)) or not -1 <= score <= 1:
        yield f"score {score!r} is not a number in [-1, 1]"
    elif row.get("label") == "neutral" and score != 0:
        yield "a neutral paragraph needs score 0"
    elif row.get("label") == "optimistic" and score <= 0:
        yield "an optimistic paragraph needs a score above 0"
    elif row.get("label") == "skeptical" and score >= 0:
        yield "a skeptical paragraph needs a score below 0"
    if "style" in row and row["style"] not in STYLES:
        yield f"style {row['style']!r} is not one of {sorted(STYLES)}"
    if "topic" in row and row["topic"] not in TOPICS:
        yield f"topic {row['topic']!r} is not one of {sorted(TOPICS)}"
    sources = row.get("sources")
    legacy = bool(row.get("origin"))  # the first 1,348 paragraphs were not modelled on pages
    if not isinstance(sources, list) or not (sources or legacy) or not all(
            isinstance(s, str) and s.startswith("http") for s in sources):
        yield "sources must be a non-empty list of page addresses"
    if not isinstance(row.get("text"), str) or not row.get("text", "").strip():
        yield "text must be a non-empty string"


def main(paths):
    problems = 0
    seen = {}
    labels = collections.Counter()
    articles = set()
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    print(f"{where}: not JSON: {err}")
                    problems += 1
                    continue
                for problem in check_row(row):
                    print(f"{where}: {problem}")
                    problems += 1
                if row.get("id") in seen:
                    print(f"{where}: id {row['id']!r} already used at {seen[row['id']]}")
                    problems += 1
                seen[row.get("id")] = where
                labels[row.get("label")] += 1
                articles.add(row.get("article_id"))
    total = sum(labels.values())
    print(f"{total} paragraphs in {len(articles)} articles: "
          + ", ".join(f"{k} {labels[k]}" for k in LABELS) + f"; {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
