"""Loading and validating training data: fail fast with one clear line per problem."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.contract import (
    CATEGORY_COLUMNS,
    FEATURE_COLUMNS,
    NUMERIC_COLUMNS,
    TARGET_COLUMN,
)
from ml.features import CONDITION_ORDER
from ml.frame_rules import range_rules

REQUIRED_COLUMNS: tuple[str, ...] = (TARGET_COLUMN, *FEATURE_COLUMNS)
MIN_ROWS = 50
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data set, with the rows (1-based, header = row 1) it affects."""

    column: str | None
    message: str
    rows: tuple[int, ...] = ()
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.column}: " if self.column else ""
        text = f"{where}{self.message}"
        if self.rows:
            text += f" ({len(self.rows)} rows, e.g. rows {', '.join(map(str, self.rows[:3]))}"
            if self.examples:
                text += f": {', '.join(repr(e) for e in self.examples[:MAX_EXAMPLES])}"
            text += ")"
        return text


def read_raw(path: Path) -> pd.DataFrame:
    """Read a CSV as strings, so that validation sees what the file really holds."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)


def validate_file(path: Path) -> list[Problem]:
    """Every problem of a training CSV; an empty list means it is fit to train on."""
    if not path.exists():
        return [Problem(None, f"file not found: {path}")]
    if path.stat().st_size == 0:
        return [Problem(None, "the file is empty (no header, no rows)")]
    try:
        raw = read_raw(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        return [Problem(None, f"not a readable UTF-8 CSV: {exc}")]
    return validate_frame(raw)


def validate_frame(raw: pd.DataFrame) -> list[Problem]:
    """Problems of a frame of strings: columns, types, ranges, nulls, duplicates, categories."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        return [Problem(c, "required column is missing") for c in missing]
    if raw.empty:
        return [Problem(None, "the file has a header but no rows")]
    problems: list[Problem] = []
    numbers = {c: pd.to_numeric(raw[c], errors="coerce") for c in (TARGET_COLUMN, *NUMERIC_COLUMNS)}
    for column in REQUIRED_COLUMNS:
        blank = raw[column].str.strip() == ""
        problems += _rows(raw, blank, column, "is empty")
        if column in numbers:
            problems += _rows(raw, ~blank & numbers[column].isna(), column, "is not a number")
    problems += _range_problems(raw, numbers)
    problems += _category_problems(raw)
    duplicated = raw.duplicated(subset=list(REQUIRED_COLUMNS), keep="first")
    problems += _rows(raw, duplicated, None, "row duplicates an earlier row")
    if len(raw) < MIN_ROWS:
        problems.append(Problem(None, f"only {len(raw)} rows; at least {MIN_ROWS} are needed"))
    return problems


def load_training_data(path: Path) -> pd.DataFrame:
    """A validated training frame with typed columns; raises ``DataError`` listing problems."""
    problems = validate_file(path)
    if problems:
        raise DataError(problems)
    raw = read_raw(path)
    frame = raw[list(REQUIRED_COLUMNS)].copy()
    for column in (TARGET_COLUMN, *NUMERIC_COLUMNS):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in CATEGORY_COLUMNS:
        frame[column] = frame[column].str.strip().astype(object)
    return frame


def file_sha256(path: Path) -> str:
    """The file's content hash, logged so a model names exactly the data it saw."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DataError(ValueError):
    """The data set is not fit to train on."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _range_problems(raw: pd.DataFrame, numbers: dict[str, pd.Series]) -> list[Problem]:
    problems = _rows(
        raw, (numbers[TARGET_COLUMN] <= 0).fillna(False), TARGET_COLUMN, "must be positive"
    )
    values = pd.DataFrame({c: numbers[c] for c in NUMERIC_COLUMNS})
    for column, broken, message in range_rules(values):
        problems += _rows(raw, broken.fillna(False), column, message)
    return problems


def _category_problems(raw: pd.DataFrame) -> list[Problem]:
    condition = raw["condition"].str.strip()
    unknown = (condition != "") & ~condition.isin(CONDITION_ORDER)
    return _rows(raw, unknown, "condition", f"is not one of {', '.join(CONDITION_ORDER)}")


def _rows(raw: pd.DataFrame, mask: pd.Series, column: str | None, message: str) -> list[Problem]:
    if not mask.any():
        return []
    positions = [int(i) + 2 for i in mask.to_numpy().nonzero()[0]]  # header is row 1
    examples = tuple(raw.loc[mask, column].head(MAX_EXAMPLES)) if column else ()
    return [Problem(column, message, tuple(positions), examples)]
