"""Fixtures: the CLI's own output on the demo corpus (the reference every package result is
compared with), the demo rows, and one Scorer per test session (loading takes seconds)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "articles.jsonl"


def cli_binary() -> Path:
    if os.environ.get("STANCEMETER_BIN"):
        return Path(os.environ["STANCEMETER_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "stancemeter"


def run_cli(*args: str) -> None:
    binary = cli_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing; run `cargo build --release` first (tests/run does)")
    cmd = [str(binary), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")


def read_cli_csv(path: Path) -> pd.DataFrame:
    """A CLI CSV as strings exactly as written (empty fields stay empty strings)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def cli_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli")
    run_cli("score", str(DEMO), "--out", str(out), "--quiet")
    return out


@pytest.fixture(scope="session")
def demo_rows() -> list:
    with open(DEMO, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def scorer():
    import stancemeter

    return stancemeter.Scorer()


@pytest.fixture(scope="session")
def demo_scored(scorer, demo_rows):
    """The whole demo corpus scored once, from a DataFrame."""
    return scorer.score(pd.DataFrame(demo_rows))


def as_cli_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """A package result written as the CLI writes CSV cells: missing as empty, floats as their
    shortest repr (which is what the CLI's writer prints), integers without a decimal point."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        cells = []
        for value in col.tolist():
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                cells.append("")
            elif isinstance(value, float):
                cells.append(repr(value))
            else:
                cells.append(str(value))
        out[name] = cells
    return pd.DataFrame(out, columns=frame.columns)
