#!/usr/bin/env python3
"""Throughput of the Python package against the CLI, and of Ray Data with 1 and 2 workers.

    python/.venv/bin/python benches/python_package.py --paragraphs 1000 --rounds 2

Makes a corpus with benches/make_corpus.py (deterministic), then alternates rounds of
  cli:      target/release/stancemeter score CORPUS --out DIR --quiet   (wall time of the process)
  package:  Scorer() + scorer.score(DataFrame of the corpus)            (in this process)
and finally stancemeter.ray.score_dataset on a local Ray (ray.init(num_cpus=2)) with 1 worker
(2 encoder threads) and 2 workers (1 thread each). Every figure includes model loading, as a
CLI run does; load time and peak memory are reported separately. Prints a Markdown table.
Run it on an otherwise idle machine: the 'other load' column is the share of both cores that
other processes used during the round (from /proc/stat), which lowers the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_ticks():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def self_ticks():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measured(fn):
    """Runs fn; returns (its result, seconds, share of both cores used by other processes)."""
    total0, idle0 = cpu_ticks()
    mine0 = self_ticks()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    total1, idle1 = cpu_ticks()
    busy = ((total1 - total0) - (idle1 - idle0)) / os.sysconf("SC_CLK_TCK")
    other = max(0.0, busy - (self_ticks() - mine0)) / (seconds * os.cpu_count())
    return result, seconds, other


def peak_rss_mb_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paragraphs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    import pandas as pd
    import stancemeter

    work = Path(tempfile.mkdtemp(prefix="stancemeter-bench-"))
    corpus = work / f"corpus-{args.paragraphs}.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benches" / "make_corpus.py"), "--paragraphs",
                    str(args.paragraphs), "--out", str(corpus)], check=True)
    rows = [json.loads(line) for line in corpus.open()]
    frame = pd.DataFrame(rows)
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "stancemeter"
    results = []

    def cli():
        subprocess.run([str(binary), "score", str(corpus), "--out", str(work / "cli"), "--quiet"], check=True)

    def package():
        load = time.perf_counter()
        scorer = stancemeter.Scorer()
        load = time.perf_counter() - load
        paragraphs, _ = scorer.score(frame)
        return load, len(paragraphs)

    for r in range(args.rounds):
        _, secs, other = measured(cli)
        results.append(("cli", r, secs, None, other, None))
        (load, n), secs, other = measured(package)
        assert n == args.paragraphs, n
        results.append(("package", r, secs, load, other, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

    if not args.no_ray:
        import ray
        import stancemeter.ray as smray

        class Timed(smray.ScoreArticles):
            def __init__(self, *a, **k):
                start = time.perf_counter()
                super().__init__(*a, **k)
                self.load = time.perf_counter() - start

            def __call__(self, batch):
                out = super().__call__(batch)
                return out.assign(load=self.load, pid=os.getpid(), rss_mb=peak_rss_mb_of(os.getpid()))

        smray.ScoreArticles = Timed
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024,
                 log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        for workers, threads, cpus in ((1, 2, 1), (2, 1, 0.5)):
            ds = ray.data.from_pandas(frame).repartition(8).materialize()
            out = work / f"ray-{workers}"
            summary, secs, other = measured(lambda: smray.score_dataset(
                ds, out, workers=workers, threads_per_worker=threads, cpus_per_worker=cpus, batch_size=25))
            assert summary["paragraphs"].sum() == args.paragraphs
            per_worker = summary.groupby("pid").agg(load=("load", "first"), rss=("rss_mb", "max"))
            results.append((f"ray {workers} worker(s) x {threads} thread(s)", 0, secs,
                            per_worker["load"].mean(), other, per_worker["rss"].mean()))
        ray.shutdown()

    print(f"\n{args.paragraphs} paragraphs ({len(rows)} articles), {os.cpu_count()} cores\n")
    print("| run | round | seconds | paragraphs/s | model load s | peak RSS MB (per worker) | other load |")
    print("|---|---|---|---|---|---|---|")
    for name, r, secs, load, other, rss in results:
        print(f"| {name} | {r} | {secs:.1f} | {args.paragraphs / secs:.1f} | "
              f"{'' if load is None else f'{load:.1f}'} | {'' if rss is None else f'{rss:.0f}'} | {other:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
