"""Article tone r, the figure docs/quality.md reports beside macro-F1.

    stancemeter eval --precision fp32 --labels data/labeled/test.jsonl --predictions WORK/test.csv
    python3 docs/experiments/tone_r.py data/labeled/test.jsonl WORK/test.csv

Pearson correlation over articles between the mean predicted p(optimistic) - p(skeptical) of
an article's paragraphs and the mean of their gold labels (+1 optimistic, 0 neutral, -1
skeptical). Standard library only.
"""
import collections, csv, json, math, sys

GOLD = {"optimistic": 1, "neutral": 0, "skeptical": -1}


def main(labels_path, predictions_path):
    with open(labels_path, encoding="utf-8") as handle:
        labels = [json.loads(line) for line in handle]
    with open(predictions_path, encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    if [r["id"] for r in labels] != [p["id"] for p in predictions]:
        sys.exit(f"{predictions_path}: not the predictions of {labels_path} (ids differ)")
    articles = collections.defaultdict(lambda: ([], []))
    for label, p in zip(labels, predictions):
        predicted, gold = articles[label["article_id"]]
        predicted.append(float(p["p_optimistic"]) - float(p["p_skeptical"]))
        gold.append(GOLD[label["label"]])
    xs = [sum(p) / len(p) for p, _ in articles.values()]
    ys = [sum(g) / len(g) for _, g in articles.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    r = cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    print(f"{len(xs)} articles, tone r {r:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
