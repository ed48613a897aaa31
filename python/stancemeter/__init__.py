"""stancemeter for Python: paragraph stance toward a negotiated settlement, per-article tone.

The same library code and model files as the ``stancemeter`` command line, so the same input
gives the same numbers::

    import stancemeter
    scorer = stancemeter.Scorer()                 # finds models/ as the CLI does
    paragraphs, articles = scorer.score([{"id": "a1", "text": "Kyiv backs a 30-day ceasefire."}])
    groups, pairs = stancemeter.compare(articles, by="outlet")

Columns are those of paragraphs.csv and articles.csv (docs/columns.md): floats as float64,
counts as Int64, text as pandas' ``string`` dtype, missing values as NA.
"""

from __future__ import annotations

import datetime
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Tuple, Union

import pandas as pd
import pyarrow as pa

from . import _native
from ._native import InputError, ModelError, StancemeterError, UsageError

__all__ = [
    "Scorer",
    "compare",
    "StancemeterError",
    "InputError",
    "ModelError",
    "UsageError",
    "PARAGRAPH_SCHEMA",
    "ARTICLE_SCHEMA",
    "GROUP_SCHEMA",
    "PAIR_SCHEMA",
]

FIELDS = ("id", "text", "paragraphs", "title", "outlet", "date", "url")


def _required(name: str, type: pa.DataType) -> pa.Field:
    """A column that always has a value (the Parquet files of ``score --out-format parquet`` mark
    it not null, so the schemas here do too)."""
    return pa.field(name, type, nullable=False)


PARAGRAPH_SCHEMA = pa.schema(
    [
        _required("article_id", pa.string()),
        ("outlet", pa.string()),
        _required("paragraph", pa.int64()),
        _required("kind", pa.string()),
        _required("label", pa.string()),
        _required("p_optimistic", pa.float64()),
        _required("p_neutral", pa.float64()),
        _required("p_skeptical", pa.float64()),
        _required("stance", pa.float64()),
        _required("windows", pa.int64()),
        _required("words", pa.int64()),
        _required("text", pa.string()),
    ]
)
"""Columns of paragraphs.csv, in order, with their Arrow types; also the schema of
paragraphs.parquet (``stancemeter score --out-format parquet``)."""

ARTICLE_SCHEMA = pa.schema(
    [_required("article_id", pa.string()), ("outlet", pa.string()), ("date", pa.string()), ("title", pa.string()),
     ("url", pa.string()), _required("n_paragraphs", pa.int64()), _required("n_scored", pa.int64())]
    + [(name, pa.float64()) for name in (
        "stance_mean", "share_optimistic", "share_neutral", "share_skeptical", "net_tone", "polarity",
        "stance_sd", "lede_stance", "max_stance", "min_stance")]
    + [_required("words", pa.int64())]
    + [(name, pa.float64()) for name in ("lex_positive", "lex_negative", "lex_tone")]
    + [_required("model", pa.string()), _required("head", pa.string())]
)
"""Columns of articles.csv, in order, with their Arrow types; also the schema of articles.parquet."""

GROUP_SCHEMA = pa.schema(
    [("group", pa.string()), ("n_articles", pa.int64()), ("n_paragraphs", pa.int64()), ("n_scored", pa.int64())]
    + [(name, pa.float64()) for name in (
        "mean_stance", "ci_low", "ci_high", "share_optimistic", "share_neutral", "share_skeptical")]
)
"""Columns of the groups table of ``compare``."""

PAIR_SCHEMA = pa.schema(
    [("group_a", pa.string()), ("group_b", pa.string())]
    + [(name, pa.float64()) for name in ("diff", "ci_low", "ci_high", "p_value")]
)
"""Columns of the pairs table of ``compare``."""

Articles = Union[pd.DataFrame, pa.Table, Iterable[Mapping[str, Any]]]


def _table(columns: dict, schema: pa.Schema) -> pa.Table:
    return pa.table([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)


def _pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with nullable counts and strings; floats stay float64 (NaN is missing)."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _date(value: Any) -> Any:
    """Dates and timestamps (pandas and Arrow readers parse ISO dates) back to ISO text, as a
    JSONL line would give them; anything else is left for the row checks."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None and value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _clean(values: Iterable[Any], field: str = "") -> list:
    if field == "date":
        return [None if _missing(v) else _date(v) for v in values]
    return [None if _missing(v) else v for v in values]


def _columns(articles: Articles, source: str) -> dict:
    """Any accepted input -> a dict of equal-length lists of the JSONL fields."""
    if isinstance(articles, pa.RecordBatch):
        articles = pa.Table.from_batches([articles])
    if isinstance(articles, pa.Table):
        names = set(articles.column_names)
        _require(names, source, "an Arrow table")
        return {f: _clean(articles.column(f).to_pylist(), f) for f in FIELDS if f in names}
    if isinstance(articles, pd.DataFrame):
        names = {str(c) for c in articles.columns}
        _require(names, source, "a DataFrame")
        return {f: _clean(articles[f].tolist(), f) for f in FIELDS if f in names}
    if isinstance(articles, (str, bytes, Mapping)) or not isinstance(articles, Iterable):
        raise InputError(
            f"{source}: expected a pandas DataFrame, a pyarrow Table or an iterable of dicts, "
            f"not {type(articles).__name__}"
        )
    columns: dict = {f: [] for f in FIELDS}
    for i, row in enumerate(articles):
        if not isinstance(row, Mapping):
            raise InputError(f"{source}[{i}]: expected a dict with the JSONL fields (id, text, ...), "
                             f"not {type(row).__name__}")
        for f in FIELDS:
            value = row.get(f)
            columns[f].append(None if _missing(value) else _date(value) if f == "date" else value)
    return columns


def _require(names: set, source: str, what: str) -> None:
    if "id" not in names:
        raise InputError(f'{source}: {what} without an "id" column; columns are {sorted(names)}')
    if "text" not in names and "paragraphs" not in names:
        raise InputError(f'{source}: {what} without a "text" (or "paragraphs") column; columns are {sorted(names)}')


class Scorer:
    """The stance encoder and head, loaded once; score as many tables as you like with it.

    Args:
        models: The models folder (holding manifest.json). ``None`` searches as the CLI does:
            ``$STANCEMETER_MODELS``, ``./models``, then the checkout the package was built from.
        head: A head file from ``stancemeter train``; ``None`` is the models folder's default.
        precision: ``"int8"`` (default, as ``stancemeter score``) or ``"fp32"``.
        threads: Encoder threads; ``None`` uses every core.

    Raises:
        ModelError: a model file is missing or does not match the manifest (run
            ``bash models/fetch``), or the head does not fit the encoder.
        UsageError: an argument has a value that cannot be used.
    """

    def __init__(
        self,
        models: Optional[Union[str, os.PathLike]] = None,
        head: Optional[Union[str, os.PathLike]] = None,
        precision: str = "int8",
        threads: Optional[int] = None,
    ) -> None:
        self._native = _native.NativeScorer(
            None if models is None else os.fspath(models),
            None if head is None else os.fspath(head),
            precision,
            threads,
        )

    @property
    def model(self) -> str:
        """Encoder provenance, as written in the ``model`` column."""
        return self._native.model

    @property
    def head(self) -> str:
        """Head id, as written in the ``head`` column."""
        return self._native.head

    def __repr__(self) -> str:
        return f"stancemeter.Scorer(model={self.model!r}, head={self.head!r})"

    def score(
        self,
        articles: Articles,
        *,
        as_arrow: bool = False,
        errors: str = "raise",
        source: str = "articles",
    ) -> Tuple[Any, Any]:
        """Scores articles: ``(paragraphs, articles)`` with the columns of the CLI's CSV files.

        Args:
            articles: a pandas DataFrame, a pyarrow Table, or an iterable of dicts, with the
                JSONL fields: ``id`` (string or integer), ``text`` (free text, split into
                paragraphs) or ``paragraphs`` (a list of strings, one row each), and optional
                ``title``, ``outlet``, ``date``, ``url``.
            as_arrow: return pyarrow Tables instead of pandas DataFrames.
            errors: ``"raise"`` (default) stops at the first bad row with an InputError;
                ``"skip"`` leaves bad rows out with a warning each, as the CLI does.
            source: names the input in messages (``articles[3]: ...``).

        Returns:
            ``(paragraphs, articles)``, one row per paragraph and per article, in input order.

        Raises:
            InputError: a row is malformed (the message names it, 0-based), a column is missing,
                or there is nothing to score.
        """
        if errors not in ("raise", "skip"):
            raise UsageError(f'errors must be "raise" or "skip", not {errors!r}')
        columns = _columns(articles, source)
        p, a, skipped = self._native.score_columns(columns, source, errors == "raise")
        for message in skipped:
            warnings.warn(f"skipped: {message}", stacklevel=2)
        tables = _table(p, PARAGRAPH_SCHEMA), _table(a, ARTICLE_SCHEMA)
        return tables if as_arrow else (_pandas(tables[0]), _pandas(tables[1]))

    def score_paragraphs(self, paragraphs: Sequence[str]) -> pd.DataFrame:
        """Scores single paragraphs as content (no splitting, no furniture rules).

        Returns a DataFrame with ``text``, ``label``, one ``p_<label>`` column per label of the
        head, ``stance`` (p_optimistic - p_skeptical) and ``windows``. Probabilities are not
        rounded (the CSV columns are rounded to 4 decimals).
        """
        if isinstance(paragraphs, str) or not isinstance(paragraphs, Iterable):
            raise InputError(f"score_paragraphs expects a list of strings, not {type(paragraphs).__name__}")
        texts = list(paragraphs)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(f"paragraphs[{i}] must be a string, not {type(t).__name__}")
        labels, probs, label, windows = self._native.score_texts(texts)
        frame = pd.DataFrame({"text": pd.array(texts, dtype="string")})
        frame["label"] = pd.array([labels[i] for i in label], dtype="string")
        for j, name in enumerate(labels):
            frame[f"p_{name}"] = [float(row[j]) for row in probs] if probs else pd.Series([], dtype="float64")
        if "p_optimistic" in frame and "p_skeptical" in frame:
            frame["stance"] = frame["p_optimistic"] - frame["p_skeptical"]
        frame["windows"] = pd.array(windows, dtype="Int64")
        return frame


def compare(
    articles: Union[pd.DataFrame, pa.Table],
    by: str = "outlet",
    resamples: int = 2000,
    seed: int = 42,
    *,
    as_arrow: bool = False,
) -> Tuple[Any, Any]:
    """Compares groups of scored articles, as ``stancemeter compare`` does.

    Args:
        articles: the articles table from :meth:`Scorer.score` (or an articles.csv read back).
        by: the column to group by, or ``"month"`` for the date's YYYY-MM.
        resamples: bootstrap and permutation resamples.
        seed: seed for resampling; the same input and seed give the same numbers.

    Returns:
        ``(groups, pairs)``: per group the mean stance with a 95% bootstrap interval and the
        label shares; per pair the difference with its interval and a permutation p-value.
    """
    if isinstance(articles, pa.Table):
        articles = _pandas(articles)
    if not isinstance(articles, pd.DataFrame):
        raise InputError(f"compare expects the articles DataFrame from Scorer.score, not {type(articles).__name__}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise UsageError(f"resamples must be a positive integer, not {resamples!r}")
    # The CLI's reader takes the table as CSV text, so both paths share every rule and message.
    # Floats print with repr precision, so they read back exactly.
    text = articles.to_csv(index=False, na_rep="")
    groups, pairs = _native.compare_csv(text, by, resamples, seed, "articles")
    tables = _table(groups, GROUP_SCHEMA), _table(pairs, PAIR_SCHEMA)
    return tables if as_arrow else (_pandas(tables[0]), _pandas(tables[1]))
