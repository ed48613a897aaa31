"""The Python package against the CLI: the same numbers, cell by cell, on the demo corpus;
the same tables from every input type; typed columns; and bad input raising clear errors."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pyarrow as pa
import pytest

import stancemeter
from conftest import as_cli_strings, read_cli_csv, run_cli


def assert_same_cells(mine: pd.DataFrame, cli: pd.DataFrame, name: str) -> None:
    assert list(mine.columns) == list(cli.columns), f"{name}: columns differ"
    assert len(mine) == len(cli), f"{name}: {len(mine)} rows, the CLI wrote {len(cli)}"
    written = as_cli_strings(mine)
    for column in cli.columns:
        diff = written[column] != cli[column]
        if diff.any():
            i = int(diff.idxmax())
            pytest.fail(f"{name}.{column} row {i}: package {written[column][i]!r}, CLI {cli[column][i]!r} "
                        f"({int(diff.sum())} cells differ)")


def test_every_cell_equals_the_cli(demo_scored, cli_out):
    paragraphs, articles = demo_scored
    assert_same_cells(paragraphs, read_cli_csv(cli_out / "paragraphs.csv"), "paragraphs")
    assert_same_cells(articles, read_cli_csv(cli_out / "articles.csv"), "articles")


def test_columns_are_typed(demo_scored):
    paragraphs, articles = demo_scored
    assert paragraphs["p_optimistic"].dtype == "float64"
    assert paragraphs["paragraph"].dtype == "Int64" and paragraphs["windows"].dtype == "Int64"
    assert paragraphs["text"].dtype == pd.StringDtype()
    assert articles["n_scored"].dtype == "Int64" and articles["stance_mean"].dtype == "float64"
    # The demo articles name no URL for some rows and every furniture-only article has no stance.
    assert articles["url"].isna().sum() == (articles["url"].isna()).sum()
    assert not (articles["outlet"] == "").any(), "unknown text fields are NA, never empty strings"


def test_arrow_tables_and_dicts_give_the_same_rows(scorer, demo_rows, demo_scored):
    rows = demo_rows[:6]
    ids = {r["id"] for r in rows}
    want_p = demo_scored[0][demo_scored[0]["article_id"].isin(ids)].reset_index(drop=True)
    want_a = demo_scored[1][demo_scored[1]["article_id"].isin(ids)].reset_index(drop=True)
    # from_pylist would take its schema from the first row only; some rows have text, some paragraphs.
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    for given in (rows, iter(rows), table, pd.DataFrame(rows)):
        p, a = scorer.score(given)
        pd.testing.assert_frame_equal(p, want_p)
        pd.testing.assert_frame_equal(a, want_a)
    p, a = scorer.score(table, as_arrow=True)
    assert p.schema == stancemeter.PARAGRAPH_SCHEMA and a.schema == stancemeter.ARTICLE_SCHEMA
    pd.testing.assert_frame_equal(a.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                                            pa.string(): pd.StringDtype()}.get), want_a)


def test_one_article_at_a_time_gives_the_same_rows(scorer, demo_rows, demo_scored):
    """Batching never changes a score: articles scored alone match the whole corpus."""
    for row in demo_rows[:: len(demo_rows) // 4]:
        p, a = scorer.score([row])
        want = demo_scored[1][demo_scored[1]["article_id"] == row["id"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, want)


def test_compare_equals_the_cli(demo_scored, cli_out, tmp_path):
    run_cli("compare", "--articles", str(cli_out / "articles.csv"), "--out", str(tmp_path / "g.csv"),
            "--by", "outlet", "--resamples", "500", "--seed", "7")
    groups, pairs = stancemeter.compare(demo_scored[1], by="outlet", resamples=500, seed=7)
    assert_same_cells(groups, read_cli_csv(tmp_path / "g.csv"), "groups")
    assert_same_cells(pairs, read_cli_csv(tmp_path / "g.pairs.csv"), "pairs")
    by_month, _ = stancemeter.compare(demo_scored[1], by="month", resamples=50)
    assert by_month["group"].str.match(r"^\d{4}-\d{2}$").all()


def test_score_paragraphs(scorer):
    frame = scorer.score_paragraphs(["Both sides signed the ceasefire and troops began to withdraw.",
                                     "The Kremlin rejected the plan outright."])
    assert list(frame.columns) == ["text", "label", "p_optimistic", "p_neutral", "p_skeptical", "stance", "windows"]
    sums = frame[["p_optimistic", "p_neutral", "p_skeptical"]].sum(axis=1)
    assert ((sums - 1).abs() < 1e-5).all()
    assert set(frame["label"]) <= {"optimistic", "neutral", "skeptical"}
    assert len(scorer.score_paragraphs([])) == 0


def test_the_gil_is_released_while_encoding(scorer, demo_rows):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    started = time.perf_counter()
    scorer.score(demo_rows[:4])
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    # Holding the GIL for the whole call would leave the other thread a handful of ticks.
    assert len(ticks) > 0.1 * elapsed / 0.001, f"{len(ticks)} ticks in {elapsed:.2f}s"


BAD_INPUTS = [
    ("missing text column", pd.DataFrame({"id": ["a"], "body": ["x"]}), 'without a "text" (or "paragraphs") column'),
    ("missing id column", pd.DataFrame({"text": ["x"]}), 'without an "id" column'),
    ("non-string text", pd.DataFrame({"id": ["a", "b"], "text": ["fine", 42]}),
     'articles[1]: article "b": "text" must be a string, not int (42)'),
    ("missing text value", pd.DataFrame({"id": ["a"], "text": [None]}),
     'articles[0]: article "a": missing field "text" (or "paragraphs")'),
    ("empty text", [{"id": "a", "text": "  "}], 'articles[0]: article "a" has empty "text"'),
    ("empty frame", pd.DataFrame({"id": [], "text": []}), "articles: no article to score: it holds no rows"),
    ("empty list", [], "articles: no article to score"),
    ("wrong type", "just a string", "expected a pandas DataFrame, a pyarrow Table or an iterable of dicts, not str"),
    ("wrong type", 17, "not int"),
    ("row not a dict", [{"id": "a", "text": "x"}, ["b", "y"]], "articles[1]: expected a dict"),
    ("paragraphs not a list", [{"id": "a", "paragraphs": "one"}], '"paragraphs" must be a list of strings, not str'),
    ("paragraph not a string", [{"id": "a", "paragraphs": ["ok", 3.5]}], '"paragraphs"[1] must be a string, not float'),
    ("bool id", [{"id": True, "text": "x"}], 'articles[0]: missing field "id"'),
]


@pytest.mark.parametrize("what,given,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_input_error(scorer, what, given, message):
    with pytest.raises(stancemeter.InputError) as caught:
        scorer.score(given)
    assert message in str(caught.value)
    assert isinstance(caught.value, stancemeter.StancemeterError)


def test_skip_mode_warns_and_keeps_the_good_rows(scorer, demo_rows):
    rows = [{"id": "bad"}, demo_rows[0]]
    with pytest.warns(UserWarning, match=r'skipped: articles\[0\]: article "bad": missing field "text"'):
        _, articles = scorer.score(rows, errors="skip")
    assert list(articles["article_id"]) == [demo_rows[0]["id"]]


def test_bad_settings_raise(tmp_path):
    with pytest.raises(stancemeter.UsageError, match="use int8 or fp32"):
        stancemeter.Scorer(precision="fp16")
    with pytest.raises(stancemeter.ModelError, match="manifest.json"):
        stancemeter.Scorer(models=tmp_path)
    with pytest.raises(stancemeter.InputError, match='no column "nope"'):
        stancemeter.compare(pd.DataFrame({"outlet": ["x"], "stance_mean": [0.1]}), by="nope")


def test_parsed_dates_are_written_back_as_iso_text(scorer, demo_rows):
    """pandas and Arrow readers parse ISO dates; the table keeps the date as the JSONL gave it."""
    frame = pd.DataFrame(demo_rows[:2])
    frame["date"] = pd.to_datetime(frame["date"])
    _, articles = scorer.score(frame)
    assert list(articles["date"]) == [r["date"] for r in demo_rows[:2]]
