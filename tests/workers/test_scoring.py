"""Scoring a chunk with the real model: order, errors per row, formulas neutralised."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from jobs.chunk_csv import read_chunk
from ml.categories import UnknownCategories
from ml.predict import Predictor, ScoredFrame
from tests.support.model import ModelRegistry
from workers.scoring import neutralise, result_header, score_chunk

COLUMNS = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition", "note"]
POSITIONS = {name: i for i, name in enumerate(COLUMNS[:6])}


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


def _score(predictor: Predictor, text: str) -> list[list[str]]:
    scored = score_chunk(
        text.encode(), columns=COLUMNS, feature_positions=POSITIONS, predictor=predictor
    )
    return list(csv.reader(io.StringIO(scored.data.decode(), newline="")))


def test_rows_keep_order_and_bad_rows_get_reasons(predictor: Predictor) -> None:
    rows = _score(
        predictor,
        "1656,3,1.5,North Ames,1960,Average,a\n-5,3,1.5,North Ames,1960,Average,b\n"
        "2400,4,2,Somerset,2005,Good,c\n",
    )

    assert [r[6] for r in rows] == ["a", "b", "c"]
    assert rows[1][7:11] == ["", "", "", "sqft: must be between 100 and 100,000"]
    assert float(rows[0][8]) < float(rows[0][7]) < float(rows[0][9])
    assert len({len(r) for r in rows}) == 1


def test_fast_and_general_paths_give_the_same_bytes(predictor: Predictor) -> None:
    body = "1656,3,1.5,North Ames,1960,Average,=cmd\n1656,3,1.5,Old Town,1960,Average\n"
    plain = score_chunk(
        body.encode(), columns=COLUMNS, feature_positions=POSITIONS, predictor=predictor
    )
    quoted = score_chunk(
        (body + '1656,3,1.5,"Old Town",1960,Average,"q"\n').encode(),
        columns=COLUMNS,
        feature_positions=POSITIONS,
        predictor=predictor,
    )

    assert quoted.data.startswith(plain.data)
    assert plain.rows == 2
    assert b"'=cmd" in plain.data


class _QuotingPredictor:
    """Rules that quote a row's location in its error and warning (as a careless rule might)."""

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        comparables: int = 0,
        unknown_categories: UnknownCategories = "warn",
    ) -> ScoredFrame:
        text = "location: " + frame["location"].astype(str)
        prices = {name: np.nan for name in ("predicted_price", "price_low", "price_high")}
        table = pd.DataFrame({**prices, "error": text, "warning": text}, index=frame.index)
        return ScoredFrame(table, [], frame[["location", "condition"]])


@pytest.mark.parametrize("quoted", [False, True], ids=["fast-path", "general-path"])
def test_row_errors_and_warnings_quoting_huge_text_are_cut(quoted: bool) -> None:
    huge = "L" * 1_000_000
    note = '"b"' if quoted else "b"
    body = f"1656,3,1.5,{huge},1960,Average,a\n1656,3,1.5,Old Town,1960,Average,{note}\n"

    scored = score_chunk(
        body.encode(), columns=COLUMNS, feature_positions=POSITIONS, predictor=_QuotingPredictor()
    )

    csv.field_size_limit(1 << 24)  # the location cell itself passes through whole
    rows = list(csv.reader(io.StringIO(scored.data.decode(), newline="")))
    error, warning = rows[0][10], rows[0][11]
    assert error == warning
    assert error.startswith("location: LLL")
    assert error.endswith("… [1,000,010 characters, cut]")
    assert len(error) == 500
    assert rows[1][10:12] == ["location: Old Town", "location: Old Town"]


def test_too_many_fields_is_a_row_error(predictor: Predictor) -> None:
    rows = _score(
        predictor,
        "1656,3,1.5,North Ames,1960,Average,a,EXTRA\n1656,3,1.5,Old Town,1960,Average,b\n",
    )

    assert rows[0][10] == "row has 8 fields but the header has 7"
    assert rows[0][7] == ""
    assert rows[1][10] == ""


def test_neutralise_prefixes_formulas_but_not_numbers() -> None:
    frame, _ = read_chunk(b"=1+1,-3.5,+7,@x,\tz,plain\n", width=6)

    assert neutralise(frame).iloc[0].tolist() == ["'=1+1", "-3.5", "+7", "'@x", "'\tz", "plain"]


def test_result_header_neutralises_column_names() -> None:
    assert result_header(["=evil", "sqft"]).decode().startswith("'=evil,sqft,predicted_price")
