"""Category matching for many rows at once: each distinct spelling is matched once.

``match_frame`` turns a coerced frame's category columns into canonical names
(``ml.categories``), with a per-row reason for those refused (near misses; unknown names in
strict mode) and a count of each rewrite, for a job's summary. A file holds few distinct
spellings, so the cost is one ``factorize`` per column and a few dict lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.categories import CategoryMatch, CategoryMatcher, CategoryRewrite, MatchKind
from ml.contract import CATEGORY_COLUMNS, MAX_CATEGORY_LENGTH

# What a cell the contract refuses anyway reads as: itself, with no problem of its own.
_AS_SENT = CategoryMatch(MatchKind.EXACT, "")


@dataclass(frozen=True)
class FrameMatch:
    """A frame's categories read as canonical names."""

    frame: pd.DataFrame  # the coerced frame with canonical category names
    errors: pd.Series  # per row, the refused categories' reasons joined by "; " (None: none)
    rewrites: list[CategoryRewrite]


def match_frame(matcher: CategoryMatcher, coerced: pd.DataFrame, *, strict: bool) -> FrameMatch:
    """Canonical names for the category columns of ``coerced`` (stripped text, NA allowed)."""
    out = coerced
    reasons: list[np.ndarray] = []
    rewrites: list[CategoryRewrite] = []
    for column in CATEGORY_COLUMNS:
        codes, uniques = pd.factorize(coerced[column])
        codes = np.asarray(codes, dtype=np.int64)
        spellings = [str(u) for u in uniques]
        # Blank or over-long cells are the contract's to refuse (validate_frame), once.
        matches = [
            matcher.match(column, s) if 0 < len(s) <= MAX_CATEGORY_LENGTH else _AS_SENT
            for s in spellings
        ]
        problems = [
            None if m is _AS_SENT else matcher.problem(column, m, strict=strict) for m in matches
        ]
        rewritten = [i for i, m in enumerate(matches) if m.kind is MatchKind.REWRITTEN]
        if any(p is not None for p in problems):
            texts = np.array([None if p is None else f"{column}: {p}" for p in problems] + [None])
            reasons.append(texts[codes])
        if rewritten:
            counts = np.bincount(codes[codes >= 0], minlength=len(spellings))
            names = np.array([m.name for m in matches] + [None], dtype=object)
            if out is coerced:
                out = coerced.copy()
            values = names[codes]
            out[column] = pd.Series(values, index=coerced.index, dtype="string")
            rewrites += [
                CategoryRewrite(
                    column=column,
                    sent=spellings[i],
                    canonical=matches[i].name,
                    rows=int(counts[i]),
                )
                for i in rewritten
            ]
    return FrameMatch(out, _joined(reasons, coerced.index), rewrites)


def _joined(reasons: list[np.ndarray], index: pd.Index) -> pd.Series:
    joined = np.full(len(index), None, dtype=object)
    for texts in reasons:
        has = pd.notna(texts)
        both = has & pd.notna(joined)
        joined = np.where(has & ~both, texts, joined)
        if both.any():
            joined[both] = [f"{a}; {b}" for a, b in zip(joined[both], texts[both], strict=True)]
    return pd.Series(joined, index=index, dtype=object)


def merge_errors(first: pd.Series, second: pd.Series) -> pd.Series:
    """Two per-row reason columns joined with "; " (None where neither has one)."""
    if second.isna().all():
        return first
    both = first.notna() & second.notna()
    out = first.where(first.notna(), second)
    out[both] = first[both].astype(str) + "; " + second[both].astype(str)
    return out
