"""Scoring a Ray Data dataset: each worker loads the model once and writes its blocks.

:class:`ScoreArticles` is a class-based callable for ``ray.data.Dataset.map_batches``: Ray
constructs it once per worker (actor), so the encoder and head load once per worker, and
calls it on batches of articles (pandas DataFrames with the JSONL fields). Each call scores its
batch with the same :class:`stancemeter.Scorer` as everywhere else and writes the batch's
``paragraphs`` and ``articles`` tables (the CLI's columns) as one Parquet (or CSV) file each,
then returns one summary row. :func:`score_dataset` does all of it::

    import ray, stancemeter.ray
    ray.init()                                   # or ray.init("ray://head:10001") for a cluster
    ds = ray.data.read_json("articles/*.jsonl")
    summary = stancemeter.ray.score_dataset(ds, "out/", workers=2)

Output files are named after a hash of their batch's article ids, so a retried task rewrites
the same file rather than adding a duplicate, and every file appears only when complete.
Ray itself is not a dependency of the package; this module imports it when used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import Scorer, UsageError

FORMATS = ("parquet", "csv")


class ScoreArticles:
    """``map_batches`` callable: scores a batch and writes ``out/paragraphs`` and ``out/articles``.

    Args:
        out: output folder (a local path or a path every worker can write, such as a shared
            file system); ``paragraphs/`` and ``articles/`` are created in it.
        models, head, precision, threads: as for :class:`stancemeter.Scorer`; ``models`` must
            exist on every worker (the same path, or ``STANCEMETER_MODELS`` set there).
        file_format: ``"parquet"`` (default) or ``"csv"``.
    """

    def __init__(
        self,
        out: Union[str, os.PathLike],
        models: Optional[Union[str, os.PathLike]] = None,
        head: Optional[Union[str, os.PathLike]] = None,
        precision: str = "int8",
        threads: Optional[int] = None,
        file_format: str = "parquet",
    ) -> None:
        if file_format not in FORMATS:
            raise UsageError(f"file_format must be one of {FORMATS}, not {file_format!r}")
        self.out = Path(out)
        self.file_format = file_format
        self.scorer = Scorer(models=models, head=head, precision=precision, threads=threads)
        for table in ("paragraphs", "articles"):
            (self.out / table).mkdir(parents=True, exist_ok=True)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        paragraphs, articles = self.scorer.score(batch, as_arrow=True, source="batch")
        ids = "\n".join(articles.column("article_id").to_pylist())
        part = "part-" + hashlib.sha256(ids.encode("utf-8")).hexdigest()[:16]
        files = [self._write(paragraphs, "paragraphs", part), self._write(articles, "articles", part)]
        return pd.DataFrame(
            {
                "part": [part],
                "articles": [articles.num_rows],
                "paragraphs": [paragraphs.num_rows],
                "paragraphs_file": [str(files[0])],
                "articles_file": [str(files[1])],
            }
        )

    def _write(self, table: pa.Table, name: str, part: str) -> Path:
        path = self.out / name / f"{part}.{self.file_format}"
        partial = path.with_name(f".{path.name}.partial")
        if self.file_format == "parquet":
            pq.write_table(table, partial)
        else:
            pacsv.write_csv(table, partial)
        os.replace(partial, path)
        return path


def score_dataset(
    dataset: Any,
    out: Union[str, os.PathLike],
    *,
    workers: int = 1,
    threads_per_worker: Optional[int] = None,
    cpus_per_worker: Optional[float] = None,
    batch_size: int = 64,
    models: Optional[Union[str, os.PathLike]] = None,
    head: Optional[Union[str, os.PathLike]] = None,
    precision: str = "int8",
    file_format: str = "parquet",
) -> pd.DataFrame:
    """Scores every article of a ``ray.data.Dataset`` on ``workers`` actors; returns one summary
    row per written batch (part name, article and paragraph counts, the two file paths).

    Each worker runs its encoder on ``threads_per_worker`` threads (default 1) and reserves
    ``cpus_per_worker`` CPUs from Ray (default: as many as its threads). Leave Ray a CPU for
    the read tasks that feed the workers: workers that reserve every CPU wait forever for
    input that no task can read (on one 2-core machine, 2 workers need ``cpus_per_worker=0.5``).
    ``batch_size`` articles go to one call and one pair of files.
    """
    if workers < 1 or batch_size < 1:
        raise UsageError("workers and batch_size must be at least 1")
    threads = threads_per_worker or 1
    scored = dataset.map_batches(
        ScoreArticles,
        fn_constructor_kwargs={
            "out": os.fspath(out),
            "models": None if models is None else os.fspath(models),
            "head": None if head is None else os.fspath(head),
            "precision": precision,
            "threads": threads,
            "file_format": file_format,
        },
        batch_size=batch_size,
        batch_format="pandas",
        compute=_actors(workers),
        num_cpus=threads if cpus_per_worker is None else cpus_per_worker,
    )
    return scored.to_pandas()


def _actors(workers: int) -> Any:
    """A fixed pool of ``workers`` actors (the argument's name changed across Ray releases)."""
    import ray.data

    return ray.data.ActorPoolStrategy(size=workers)


def read_output(out: Union[str, os.PathLike]) -> tuple:
    """Reads back ``(paragraphs, articles)`` written by :func:`score_dataset` as pandas
    DataFrames, in the order of the article ids' first appearance in each part."""
    frames = []
    for name in ("paragraphs", "articles"):
        files = sorted((Path(out) / name).glob("part-*"))
        if not files:
            raise FileNotFoundError(f"{Path(out) / name}: no part files; did score_dataset run?")
        tables = [pq.read_table(f) if f.suffix == ".parquet" else pacsv.read_csv(f) for f in files]
        frames.append(pa.concat_tables(tables).to_pandas(
            types_mapper={pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}.get))
    return frames[0], frames[1]
