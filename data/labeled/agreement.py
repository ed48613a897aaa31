#!/usr/bin/env python3
"""Agreement between the two independent annotations, and how disagreements were resolved.

annotation/first.jsonl   the writers' labels of the doubly annotated paragraphs, as first given
annotation/second.jsonl  a second annotator's labels, made blind (the texts and GUIDELINES.md only)
annotation/adjudicated.jsonl  for each disagreement, a third blind reader's choice between the
                         two labels (shown in random order, neither attributed), with a reason

Rule: where the two disagree, the adjudicated label is final and is what raw/*.jsonl holds.
This script prints accuracy, Cohen's kappa and the macro-F1 of one annotation against the other
(overall and per slice), counts the resolutions, and checks raw/ follows them.
Run: python3 data/labeled/agreement.py
"""
import collections
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from split import SPLITS, bucket  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ("optimistic", "neutral", "skeptical")


def read(name):
    with open(os.path.join(HERE, "annotation", name), encoding="utf-8") as handle:
        return {row["id"]: row["label"] for row in map(json.loads, handle)}


def agreement(pairs):
    n = len(pairs)
    accuracy = sum(a == b for a, b in pairs) / n
    first, second = collections.Counter(a for a, _ in pairs), collections.Counter(b for _, b in pairs)
    chance = sum(first[k] * second[k] for k in LABELS) / n / n
    kappa = (accuracy - chance) / (1 - chance)

    def f1(k):
        hits = sum(a == k and b == k for a, b in pairs)
        precision = hits / second[k] if second[k] else 0.0
        recall = hits / first[k] if first[k] else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    return n, accuracy, kappa, sum(f1(k) for k in LABELS) / len(LABELS)


def main():
    first, second, final = read("first.jsonl"), read("second.jsonl"), read("adjudicated.jsonl")
    raw, split = {}, {}
    for path in glob.glob(os.path.join(HERE, "raw", "*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                raw[row["id"]] = row["label"]
                split[row["id"]] = bucket(row["article_id"], row["style"])
    slices = {"all": list(second), "first 1,348 (team-written)": [i for i in second if not i.startswith("w")],
              "modelled on real coverage": [i for i in second if i.startswith("w")]}
    for name in SPLITS:
        slices[f"split {name}"] = [i for i in second if split[i] == name]
    print(f"{'paragraphs':30} {'n':>5} {'accuracy':>9} {'kappa':>7} {'macro-F1':>9}")
    for name, ids in slices.items():
        n, accuracy, kappa, macro = agreement([(first[i], second[i]) for i in ids])
        print(f"{name:30} {n:5} {accuracy:9.3f} {kappa:7.3f} {macro:9.3f}")
    confusion = collections.Counter((first[i], second[i]) for i in second)
    print("\nconfusion (rows: first, columns: second; optimistic / neutral / skeptical)")
    for a in LABELS:
        print(f"{a:11}", *(f"{confusion[(a, b)]:5}" for b in LABELS))
    disagreements = [i for i in second if first[i] != second[i]]
    missing = [i for i in disagreements if i not in final]
    if missing:
        raise SystemExit(f"{len(missing)} disagreements have no adjudication, e.g. {missing[0]}")
    sided = collections.Counter("first" if final[i] == first[i] else "second" for i in disagreements)
    print(f"\n{len(disagreements)} disagreements, resolved by the adjudicator: first annotation kept "
          f"{sided['first']}, second annotation taken {sided['second']} (relabeled)")
    wrong = [i for i in second if raw.get(i) != (final.get(i, first[i]))]
    if wrong:
        raise SystemExit(f"raw/ does not follow the resolution for {len(wrong)} paragraphs, e.g. {wrong[0]}")
    print("raw/ holds the resolved label of every doubly annotated paragraph")


if __name__ == "__main__":
    main()
