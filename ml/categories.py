"""Categories matched as people write them: one alias table, one verdict for every path.

Sources spell the same neighbourhood ``North Ames``, ``North_Ames``, ``north ames`` or
``NAmes``; the model knows one of them. A ``CategoryMatcher`` reads a category the way
a person would: ignoring case, underscores, hyphens and surrounding or repeated
whitespace, and through the alias table (``ml/aliases.yaml``, the only place aliases are
written), so each of those becomes the canonical name before encoding. A near miss
(``Nrth Ames``) is refused with a suggestion rather than priced as an unknown category; a
name with no close match is priced as unknown with a warning, or refused in strict mode
(``unknown_categories=error``).

The single-row path looks each raw spelling up in a dict (filled on first sight, bounded),
so a known name costs one lookup; the frame path matches each distinct value once.
This module imports neither pandas nor the web stack: the web form uses it too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

ALIASES_PATH = Path(__file__).with_name("aliases.yaml")
ALIASES_ARTIFACT = "aliases.yaml"
# How alike (difflib ratio of the normalised texts) a name must be to a known one to be a
# near miss: "Nrth Ames" is 0.95 from "north ames"; "South Ames" 0.80 from it (not one).
NEAR_MISS_CUTOFF = 0.85
# Spellings shorter than this are never suggested (codes such as "TA", "5" are alike to
# too many short words to mean anything).
MIN_SUGGESTED_LENGTH = 4
MAX_CACHED_SPELLINGS = 10_000
# A category seen fewer times than this in training is "rare" (a warning; the form says so).
RARE_CATEGORY_COUNT = 5

UnknownCategories = Literal["warn", "error"]
UNKNOWN_CATEGORY_MODES: tuple[str, ...] = ("warn", "error")

_LENGTH_FACTOR = NEAR_MISS_CUTOFF / (2 - NEAR_MISS_CUTOFF)
_SEPARATORS = re.compile(r"[\s_\-]+")


class MatchKind(StrEnum):
    """What a spelling turned out to be."""

    EXACT = "exact"  # the canonical name as written
    REWRITTEN = "rewritten"  # another spelling of a canonical name
    NEAR_MISS = "near_miss"  # close to a known name, but not one: refused with a suggestion
    UNKNOWN = "unknown"  # like nothing known: priced as unknown (or refused when strict)


@dataclass(frozen=True)
class CategoryMatch:
    """How one spelling reads: the name to encode, and what kind of match it was."""

    kind: MatchKind
    name: str  # the canonical name (EXACT, REWRITTEN) or the spelling as sent
    suggestion: str | None = None  # the canonical name a near miss is closest to


class AliasTable(BaseModel):
    """Per category column, each canonical name and its other spellings."""

    columns: dict[str, dict[str, list[str]]] = Field(
        description="column -> canonical name -> aliases (matched after normalisation)"
    )

    def canonical_names(self, column: str) -> list[str]:
        """The canonical names of a column, as the table lists them."""
        return list(self.columns.get(column, {}))


class CategoryRewrite(BaseModel):
    """How often a spelling was read as a canonical name (e.g. in a job's rows)."""

    column: str
    sent: str = Field(description="The spelling as sent (trimmed).")
    canonical: str = Field(description="The canonical name it was read as.")
    rows: int

    def __str__(self) -> str:
        return f"{self.sent} -> {self.canonical}: {self.rows:,} row{'s' if self.rows != 1 else ''}"


class CategoryProblem(BaseModel):
    """A category refused: the field, why, and the name it was probably meant to be."""

    field: str
    message: str
    suggestion: str | None = None


class CategoryError(ValueError):
    """One or more categories of a request are near misses (or unknown, in strict mode)."""

    def __init__(self, problems: list[CategoryProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def normalise(text: str) -> str:
    """The spelling's matching key: case folded, underscores, hyphens and runs of
    whitespace made one space, trimmed."""
    return _SEPARATORS.sub(" ", text).strip().casefold()


@cache
def load_aliases(path: Path = ALIASES_PATH) -> AliasTable:
    """The alias table (the packaged ``ml/aliases.yaml`` unless told otherwise), read once."""
    return parse_aliases(path.read_text(encoding="utf-8"))


def parse_aliases(text: str) -> AliasTable:
    """An alias table from its YAML text (every name and alias read as text)."""
    raw = yaml.safe_load(text) or {}
    return AliasTable(
        columns={
            str(column): {
                str(name): [str(alias) for alias in (aliases or [])]
                for name, aliases in (names or {}).items()
            }
            for column, names in raw.items()
        }
    )


def near_miss_message(column: str, value: str, suggestion: str) -> str:
    """Why a near miss is refused (no "; " in it: a CSV error cell joins reasons with it)."""
    return f"'{value}' is not a known {column}, did you mean '{suggestion}'?"


def strict_unknown_message(column: str, value: str) -> str:
    """Why an unknown category is refused in strict mode."""
    return (
        f"'{value}' is not a {column} the model was trained on "
        "(unknown_categories=error refuses what would be scored as unknown)"
    )


class CategoryMatcher:
    """Reads category spellings as the canonical names of one model version."""

    def __init__(
        self,
        names: Mapping[str, Iterable[str]],
        aliases: AliasTable,
        *,
        trained: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """``names``: per column, the canonical names the version knows of (trained or not),
        to which the table's names and aliases are added; ``trained``: those the model
        learned (strict mode refuses the others; default: ``names``)."""
        self.aliases = aliases
        self._trained = {c: frozenset(v) for c, v in (trained or names).items()}
        self._keys: dict[str, dict[str, str]] = {}
        self._suggestable: dict[str, list[str]] = {}
        self._cache: dict[str, dict[str, CategoryMatch]] = {}
        for column in {*names, *aliases.columns}:
            known = [*names.get(column, ()), *aliases.canonical_names(column)]
            keys = {
                normalise(alias): name
                for name, spelled in aliases.columns.get(column, {}).items()
                for alias in spelled
            }
            keys |= {normalise(name): name for name in known}  # a canonical name wins
            self._keys[column] = keys
            self._suggestable[column] = [k for k in keys if len(k) >= MIN_SUGGESTED_LENGTH]
            self._cache[column] = {name: CategoryMatch(MatchKind.EXACT, name) for name in known}

    def match(self, column: str, value: str) -> CategoryMatch:
        """How ``value`` (already trimmed) reads in ``column``; cached per spelling."""
        cached = self._cache[column].get(value)
        if cached is not None:
            return cached
        found = self._match(column, value)
        if len(self._cache[column]) < MAX_CACHED_SPELLINGS:
            self._cache[column][value] = found
        return found

    def problem(self, column: str, found: CategoryMatch, *, strict: bool) -> str | None:
        """Why a match is refused (``None``: it is priced): a near miss always; in strict
        mode also any name the model would score as unknown."""
        if found.kind is MatchKind.NEAR_MISS and found.suggestion is not None:
            return near_miss_message(column, found.name, found.suggestion)
        if strict and found.name not in self._trained.get(column, ()):
            return strict_unknown_message(column, found.name)
        return None

    def _match(self, column: str, value: str) -> CategoryMatch:
        keys = self._keys[column]
        key = normalise(value)
        name = keys.get(key)
        if name is not None:
            kind = MatchKind.EXACT if name == value else MatchKind.REWRITTEN
            return CategoryMatch(kind, name)
        # A ratio of at least the cutoff needs lengths within a factor of cutoff/(2-cutoff):
        # compare only those (a file of many distinct unknown names stays cheap).
        low, high = len(key) * _LENGTH_FACTOR, len(key) / _LENGTH_FACTOR
        alike = [k for k in self._suggestable[column] if low <= len(k) <= high]
        close = difflib.get_close_matches(key, alike, n=1, cutoff=NEAR_MISS_CUTOFF)
        if close:
            return CategoryMatch(MatchKind.NEAR_MISS, value, suggestion=keys[close[0]])
        return CategoryMatch(MatchKind.UNKNOWN, value)


def parse_mode(value: str) -> UnknownCategories:
    """``warn`` or ``error`` (``ValueError`` otherwise)."""
    if value == "warn":
        return "warn"
    if value == "error":
        return "error"
    raise ValueError(f"unknown_categories must be one of {', '.join(UNKNOWN_CATEGORY_MODES)}")
