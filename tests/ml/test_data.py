"""Data checks: the committed data set is valid, and each kind of breakage is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpp.ml_steps import run_validate_data
from ml.data import DataError, load_training_data, validate_file

DATA = Path(__file__).resolve().parents[2] / "data" / "house_data.csv"


@pytest.fixture
def good() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype=str, keep_default_na=False)


def write(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "broken.csv"
    frame.to_csv(path, index=False)
    return path


def messages(path: Path) -> list[str]:
    return [str(p) for p in validate_file(path)]


def test_committed_data_is_valid_and_matches_the_data_card() -> None:
    frame = load_training_data(DATA)
    assert validate_file(DATA) == []
    assert list(frame.columns) == [
        "price",
        "sqft",
        "bedrooms",
        "bathrooms",
        "location",
        "year_built",
        "condition",
    ]
    assert len(frame) == 2921
    assert frame["location"].nunique() == 28
    assert frame["price"].between(10_000, 1_000_000).all()


def test_missing_column_is_named(good: pd.DataFrame, tmp_path: Path) -> None:
    found = messages(write(good.drop(columns=["sqft"]), tmp_path))
    assert found == ["sqft: required column is missing"]


def test_text_in_sqft_is_named_with_rows_and_examples(good: pd.DataFrame, tmp_path: Path) -> None:
    good.loc[[3, 7], "sqft"] = ["big", "huge"]
    found = messages(write(good, tmp_path))
    assert any(m.startswith("sqft: is not a number (2 rows, e.g. rows 5, 9") for m in found)
    assert any("'big'" in m for m in found)


def test_negative_price_is_named(good: pd.DataFrame, tmp_path: Path) -> None:
    good.loc[0, "price"] = "-5"
    assert any(
        m.startswith("price: must be positive (1 rows") for m in messages(write(good, tmp_path))
    )


def test_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert messages(path) == ["the file is empty (no header, no rows)"]


def test_header_only_is_named(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("price,sqft,bedrooms,bathrooms,location,year_built,condition\n")
    assert messages(path) == ["the file has a header but no rows"]


def test_nulls_duplicates_ranges_and_categories_are_each_reported(
    good: pd.DataFrame, tmp_path: Path
) -> None:
    good.loc[1, "location"] = ""
    good.loc[2, "bedrooms"] = "99"
    good.loc[4, "condition"] = "Sparkling"
    good.loc[5, "bathrooms"] = "1.3"
    frame = pd.concat([good, good.iloc[[10]]], ignore_index=True)
    found = " | ".join(messages(write(frame, tmp_path)))
    for expected in (
        "location: is empty",
        "bedrooms: must be a whole number between 0 and 50",
        "condition: is not one of",
        "bathrooms: must be between 0 and 50 in steps of 0.5",
        "row duplicates an earlier row",
    ):
        assert expected in found


def test_load_raises_listing_every_problem(good: pd.DataFrame, tmp_path: Path) -> None:
    good.loc[0, "price"] = "0"
    good.loc[1, "sqft"] = "x"
    with pytest.raises(DataError) as info:
        load_training_data(write(good, tmp_path))
    assert len(info.value.problems) == 2


def test_validate_returns_nonzero_and_prints_one_line_per_problem(
    good: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good.loc[0, "price"] = "-1"
    good.loc[1, "sqft"] = "abc"
    assert run_validate_data(write(good, tmp_path)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # two problems and the summary
    assert run_validate_data(DATA) == 0


def test_hpp_validate_data_command_exits_nonzero_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("price,sqft\n1,2\n")
    done = subprocess.run(
        [sys.executable, "-m", "hpp.cli", "validate-data", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "bedrooms: required column is missing" in done.stderr
