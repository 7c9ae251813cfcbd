"""Category spellings: one alias table, read the way people write names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ml.categories import (
    ALIASES_PATH,
    CategoryMatcher,
    MatchKind,
    load_aliases,
    normalise,
    parse_aliases,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = pd.read_csv(ROOT / "data" / "house_data.csv")
TRAINED = {
    "location": sorted(DATA["location"].unique()),
    "condition": sorted(DATA["condition"].unique()),
}


@pytest.fixture(scope="module")
def matcher() -> CategoryMatcher:
    return CategoryMatcher(TRAINED, load_aliases())


@pytest.mark.parametrize(
    ("sent", "column", "read_as"),
    [
        ("north ames", "location", "North Ames"),  # case
        ("NORTH AMES", "location", "North Ames"),
        ("North   Ames", "location", "North Ames"),  # repeated whitespace
        ("\tNorth Ames ", "location", "North Ames"),  # surrounding whitespace
        ("North_Ames", "location", "North Ames"),  # underscores (modeldata, CSV exports)
        ("north-ames", "location", "North Ames"),  # hyphens
        ("Iowa_DOT_and_Rail_Road", "location", "Iowa DOT and Rail Road"),
        ("NAmes", "location", "North Ames"),  # the Ames data's own codes
        ("CollgCr", "location", "College Creek"),
        ("OldTown", "location", "Old Town"),
        ("SWISU", "location", "South and West of Iowa State University"),
        ("above_average", "condition", "Above Average"),
        ("TA", "condition", "Average"),  # the Ames quality grades
        ("Ex", "condition", "Excellent"),
        ("5", "condition", "Average"),  # the Ames 1-10 Overall Cond scale
    ],
)
def test_other_spellings_read_as_the_canonical_name(
    matcher: CategoryMatcher, sent: str, column: str, read_as: str
) -> None:
    found = matcher.match(column, sent)

    assert found.kind is MatchKind.REWRITTEN
    assert found.name == read_as
    assert matcher.problem(column, found, strict=True) is None


def test_a_canonical_name_is_exact_and_costs_one_lookup(matcher: CategoryMatcher) -> None:
    found = matcher.match("location", "North Ames")

    assert found.kind is MatchKind.EXACT
    assert matcher.match("location", "North Ames") is found  # cached, not matched again


@pytest.mark.parametrize(
    ("sent", "column", "suggested"),
    [
        ("Nrth Ames", "location", "North Ames"),
        ("Colege Creek", "location", "College Creek"),
        ("Averge", "condition", "Average"),
        ("CollegCr", "location", "College Creek"),  # a near miss of a code names the name
    ],
)
def test_a_near_miss_is_refused_with_a_suggestion(
    matcher: CategoryMatcher, sent: str, column: str, suggested: str
) -> None:
    found = matcher.match(column, sent)

    assert found.kind is MatchKind.NEAR_MISS
    assert found.suggestion == suggested
    problem = matcher.problem(column, found, strict=False)
    assert problem == f"'{sent}' is not a known {column}, did you mean '{suggested}'?"
    assert "; " not in problem  # a CSV error cell joins reasons with "; "


@pytest.mark.parametrize("sent", ["Atlantis", "South Ames", "x" * 64, "P", "Q5"])
def test_a_name_like_no_known_one_is_unknown_and_refused_only_when_strict(
    matcher: CategoryMatcher, sent: str
) -> None:
    found = matcher.match("location", sent)

    assert found.kind is MatchKind.UNKNOWN
    assert found.name == sent
    assert matcher.problem("location", found, strict=False) is None
    assert "unknown_categories=error" in str(matcher.problem("location", found, strict=True))


def test_strict_mode_refuses_a_data_category_the_model_was_not_trained_on() -> None:
    trained = {**TRAINED, "location": [n for n in TRAINED["location"] if n != "Landmark"]}
    matcher = CategoryMatcher(TRAINED, load_aliases(), trained=trained)

    found = matcher.match("location", "Landmrk")

    assert (found.kind, found.name) == (MatchKind.REWRITTEN, "Landmark")
    assert matcher.problem("location", found, strict=False) is None
    assert matcher.problem("location", found, strict=True) is not None


def test_normalise_ignores_case_separators_and_whitespace() -> None:
    assert normalise("  North__Ames - West\t") == "north ames west"


def test_the_table_covers_every_category_of_the_data_without_ambiguity() -> None:
    table = load_aliases()
    for column, names in TRAINED.items():
        assert set(names) <= set(table.canonical_names(column)), column
        keys: dict[str, str] = {}
        for name, aliases in table.columns[column].items():
            for spelling in (name, *aliases):
                key = normalise(spelling)
                assert keys.setdefault(key, name) == name, f"{spelling!r} means two names"


def test_the_data_card_shows_the_alias_table() -> None:
    card = (ROOT / "data" / "README.md").read_text()
    for names in load_aliases().columns.values():
        for name, aliases in names.items():
            for alias in aliases:
                assert f"`{alias}`" in card, (name, alias)


def test_aliases_parse_numbers_as_text() -> None:
    table = parse_aliases("condition:\n  Average: [5, TA]\n")

    assert table.columns == {"condition": {"Average": ["5", "TA"]}}
    assert ALIASES_PATH.name == "aliases.yaml"


def test_importing_the_contract_and_the_matcher_loads_no_pandas() -> None:
    code = (
        "import sys, ml.contract, ml.categories; "
        "assert 'pandas' not in sys.modules and 'pyarrow' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('pandas', 'pyarrow')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
