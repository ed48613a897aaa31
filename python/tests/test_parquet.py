"""The CLI's Parquet output (``stancemeter score --out-format parquet``) against the package:
the same schema, and pandas reads the files into exactly the frames ``Scorer.score`` returns,
dtype for dtype and value for value."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stancemeter
from conftest import DEMO, run_cli

# Beside the demo corpus (which has every field): an article with no outlet, date, title or url,
# and one of page furniture only (no content paragraph, so no stance), so there are nulls.
SPARSE = [
    {"id": "bare", "text": "Negotiators met in Geneva and agreed to continue talks next week."},
    {"id": "furniture", "outlet": "Wire", "paragraphs": ["By Anna Reyes, Northbridge Wire", "Comments"]},
]

# The package's own mapping from Arrow to pandas (nullable Int64 and string; floats stay float64).
TYPES = {pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}


@pytest.fixture(scope="module")
def parquet_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("parquet")
    sparse = out / "sparse.jsonl"
    sparse.write_text("".join(json.dumps(row) + "\n" for row in SPARSE), encoding="utf-8")
    run_cli("score", str(DEMO), str(sparse), "--out", str(out), "--quiet", "--out-format", "parquet")
    return out


@pytest.fixture(scope="module")
def scored(scorer, demo_rows):
    """The same articles scored by the package, as pandas frames."""
    return scorer.score(demo_rows + SPARSE)


@pytest.mark.parametrize("name, schema", [("paragraphs", stancemeter.PARAGRAPH_SCHEMA),
                                          ("articles", stancemeter.ARTICLE_SCHEMA)])
def test_the_files_have_the_package_schema_and_provenance(parquet_out, scorer, name, schema):
    written = pq.read_schema(parquet_out / f"{name}.parquet")
    assert written.equals(schema, check_metadata=False), f"{name}:\n{written}\nthe package:\n{schema}"
    metadata = pq.read_metadata(parquet_out / f"{name}.parquet").metadata
    assert metadata[b"stancemeter.head"].decode() == scorer.head
    assert metadata[b"stancemeter.model"].decode() == scorer.model


def test_pandas_reads_the_frames_score_returns(parquet_out, scored):
    for name, frame in zip(("paragraphs", "articles"), scored):
        path = parquet_out / f"{name}.parquet"
        # With the package's own Arrow -> pandas mapping: the same frame, dtype for dtype.
        # check_exact: floats bit for bit, not within a tolerance.
        typed = pq.read_table(path).to_pandas(types_mapper=TYPES.get)
        pd.testing.assert_frame_equal(typed, frame, check_exact=True, obj=name)
        # pandas.read_parquet as it comes (it takes no types_mapper of its own): the same values
        # and missing cells; floats float64 as in the package, counts int64, text pandas' str.
        plain = pd.read_parquet(path)
        pd.testing.assert_frame_equal(plain, frame, check_dtype=False, check_exact=True, obj=name)
        for column in frame.columns:
            want = {"Float64": "float64", "Int64": "int64", "string": "str"}.get(frame[column].dtype.name,
                                                                                  frame[column].dtype.name)
            assert plain[column].dtype == want, f"{name}.{column}: {plain[column].dtype}, not {want}"
    articles = scored[1]
    for column in ("outlet", "url", "stance_mean", "lex_tone"):
        assert articles[column].isna().sum() >= 1, f"no missing {column}: the nulls would go untested"


def test_arrow_tables_equal_the_files(parquet_out, scorer, demo_rows):
    paragraphs, articles = scorer.score(demo_rows + SPARSE, as_arrow=True)
    for name, table in (("paragraphs", paragraphs), ("articles", articles)):
        read = pq.read_table(parquet_out / f"{name}.parquet")
        assert read.equals(table), f"{name}: the file's table differs from Scorer.score's"
