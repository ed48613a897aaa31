"""stancemeter.ray on a local Ray instance: the demo corpus through Dataset.map_batches with
two workers, written as Parquet per block, read back equal to the CLI's CSVs cell by cell."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import DEMO, read_cli_csv
from test_package import assert_same_cells

ray = pytest.importorskip("ray", reason="ray is installed by python/install; run it first")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def in_cli_order(frame: pd.DataFrame, cli: pd.DataFrame, keys: list) -> pd.DataFrame:
    """Blocks finish in any order; put rows back in the CLI's (input) order."""
    order = {tuple(k): i for i, k in enumerate(cli[keys].itertuples(index=False, name=None))}
    rank = [order.get(tuple(str(v) for v in k), -1) for k in frame[keys].itertuples(index=False, name=None)]
    return frame.assign(_rank=rank).sort_values("_rank").drop(columns="_rank").reset_index(drop=True)


def test_ray_data_output_equals_the_cli(local_ray, cli_out, tmp_path):
    import stancemeter.ray as smray

    ds = ray.data.read_json(str(DEMO))
    summary = smray.score_dataset(ds, tmp_path, workers=2, cpus_per_worker=0.5, batch_size=16)
    assert summary["articles"].sum() == 66 and len(summary) >= 2, summary
    paragraphs, articles = smray.read_output(tmp_path)
    cli_p = read_cli_csv(cli_out / "paragraphs.csv")
    cli_a = read_cli_csv(cli_out / "articles.csv")
    assert_same_cells(in_cli_order(paragraphs, cli_p, ["article_id", "paragraph"]), cli_p, "ray paragraphs")
    assert_same_cells(in_cli_order(articles, cli_a, ["article_id"]), cli_a, "ray articles")
    assert not list(tmp_path.rglob("*.partial")), "no partial file is left behind"
