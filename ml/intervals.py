"""Prediction intervals calibrated per house: normalised split-conformal in log price.

A house's log-price error is scaled by its expected size, ``sigma(x)``, a tiny model:
``log sigma = intercept + f(predicted log price) + g(year built) + c[condition]`` with
``f`` and ``g`` piecewise linear between fixed knots. It is fitted to out-of-fold absolute
log residuals (a Gamma GLM with a log link). The conformal quantile ``scale`` of the
normalised errors ``|r| / sigma`` is taken over residuals whose ``sigma`` was itself fitted
without them (cross-fitted), so the interval ``price * exp(+-scale * sigma(x))`` keeps the
split-conformal guarantee while hard houses get wider intervals and easy ones narrower.
Serving is two interpolations and a dictionary lookup per house.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # fitting needs scikit-learn; the card (read by the web app) only this model
    from sklearn.linear_model import GammaRegressor
    from sklearn.model_selection import KFold

METHOD = (
    "normalised split-conformal on out-of-fold log-price residuals "
    "(difficulty by predicted price, year built and condition)"
)
YEAR_KNOTS = (1880.0, 1920.0, 1940.0, 1960.0, 1980.0, 2000.0, 2010.0)
PRICE_KNOTS = 6  # at quantiles of the out-of-fold predicted log price
RIDGE = 1e-3  # keeps few-house conditions near the average; more shrinks real effects


class IntervalModel(BaseModel):
    """The fitted interval: a conformal scale times a per-house difficulty, in log price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: float
    scale: float
    intercept: float
    price_knots: tuple[float, ...]
    price_effects: tuple[float, ...]
    year_knots: tuple[float, ...]
    year_effects: tuple[float, ...]
    condition_effects: dict[str, float]

    def log_radius_one(self, margin: float, year_built: float, condition: str) -> float:
        """One house's half-width in log price (``margin`` is its predicted log price)."""
        log_sigma = (
            self.intercept
            + _interp_one(margin, self.price_knots, self.price_effects)
            + _interp_one(year_built, self.year_knots, self.year_effects)
            + self.condition_effects.get(condition, 0.0)
        )
        return self.scale * math.exp(log_sigma)

    def log_radius(
        self, margins: np.ndarray, years: np.ndarray, conditions: np.ndarray
    ) -> np.ndarray:
        """Half-widths in log price for many houses (``conditions``: per-row effects)."""
        log_sigma = (
            self.intercept
            + np.interp(margins, self.price_knots, self.price_effects)
            + np.interp(years, self.year_knots, self.year_effects)
            + conditions
        )
        half_widths: np.ndarray = self.scale * np.exp(log_sigma)
        return half_widths

    def condition_column_effects(self, columns: dict[str, int], width: int) -> np.ndarray:
        """A vector over encoded columns: each condition's one-hot column holds its effect."""
        vector = np.zeros(width, dtype=np.float64)
        for name, column in columns.items():
            vector[column] = self.condition_effects.get(name, 0.0)
        return vector

    @classmethod
    def constant(cls, level: float, log_radius: float) -> IntervalModel:
        """One radius for every house (models trained before per-house intervals)."""
        return cls(
            level=level,
            scale=log_radius,
            intercept=0.0,
            price_knots=(0.0, 1.0),
            price_effects=(0.0, 0.0),
            year_knots=(0.0, 1.0),
            year_effects=(0.0, 0.0),
            condition_effects={},
        )


def calibrate(
    *,
    log_actual: np.ndarray,
    log_predicted: np.ndarray,
    years: np.ndarray,
    conditions: np.ndarray,
    level: float,
    folds: KFold,
) -> IntervalModel:
    """Fit the difficulty on out-of-fold residuals and the conformal scale, cross-fitted."""
    errors = np.abs(log_actual - log_predicted)
    quantiles = np.quantile(log_predicted, np.linspace(0.0, 1.0, PRICE_KNOTS))
    price_knots = tuple(float(k) for k in quantiles)
    names = tuple(sorted({str(c) for c in conditions}))
    design = _design(log_predicted, years, conditions, price_knots, names)
    sigma = np.empty_like(errors)
    for fit_rows, held_rows in folds.split(design):
        sigma[held_rows] = _fit(design[fit_rows], errors[fit_rows]).predict(design[held_rows])
    final = _fit(design, errors)
    coef = final.coef_
    n_price, n_year = len(price_knots), len(YEAR_KNOTS)
    return IntervalModel(
        level=level,
        scale=conformal_quantile(errors / sigma, level),
        intercept=float(final.intercept_),
        price_knots=price_knots,
        price_effects=tuple(float(c) for c in coef[:n_price]),
        year_knots=YEAR_KNOTS,
        year_effects=tuple(float(c) for c in coef[n_price : n_price + n_year]),
        condition_effects={
            name: float(c) for name, c in zip(names, coef[n_price + n_year :], strict=True)
        },
    )


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) * level)-th smallest score."""
    ordered = np.sort(scores)
    n = len(ordered)
    rank = min(int(np.ceil((n + 1) * level)), n)
    return float(ordered[rank - 1])


def _design(
    margins: np.ndarray,
    years: np.ndarray,
    conditions: np.ndarray,
    price_knots: tuple[float, ...],
    names: Iterable[str],
) -> np.ndarray:
    """Hat-function bases (so ``basis @ effects == interp``) and one-hot conditions."""
    return np.hstack(
        [
            _hat_basis(margins, price_knots),
            _hat_basis(years, YEAR_KNOTS),
            np.stack([(conditions == name).astype(np.float64) for name in names], axis=1),
        ]
    )


def _hat_basis(values: np.ndarray, knots: tuple[float, ...]) -> np.ndarray:
    identity = np.eye(len(knots))
    return np.stack([np.interp(values, knots, identity[j]) for j in range(len(knots))], axis=1)


def _fit(design: np.ndarray, errors: np.ndarray) -> GammaRegressor:
    from sklearn.linear_model import GammaRegressor  # only training fits; serving never does

    # A Gamma GLM needs positive targets; an exact prediction is as easy as it gets.
    return GammaRegressor(alpha=RIDGE, solver="newton-cholesky", max_iter=1000).fit(
        design, np.maximum(errors, 1e-6)
    )


def _interp_one(value: float, knots: tuple[float, ...], effects: tuple[float, ...]) -> float:
    """``np.interp`` for one value, without numpy's per-call overhead."""
    if value <= knots[0]:
        return effects[0]
    if value >= knots[-1]:
        return effects[-1]
    i = bisect.bisect_right(knots, value)
    share = (value - knots[i - 1]) / (knots[i] - knots[i - 1])
    return effects[i - 1] + share * (effects[i] - effects[i - 1])
