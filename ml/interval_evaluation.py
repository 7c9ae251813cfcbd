"""Judging intervals soundly: every house gets an interval fitted without it.

Two ways, one rule. Training (``cross_fitted_radii``): the out-of-fold predictions of the
training houses already come from models that did not see them; for each calibration fold
the whole interval fit (difficulty model and conformal scale) is redone on the other folds'
residuals and applied to the fold, so each training house is judged by a price and an
interval that never saw it. The card reports these figures, on 80 % of the data rather
than the 20 % hold-out alone, and the hold-out ones beside them.
``bench/interval_coverage.py`` goes further: an outer K-fold over all rows refits the price
model too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ml.intervals import IntervalModel, calibrate

if TYPE_CHECKING:
    from sklearn.model_selection import KFold


def cross_fitted_radii(
    *,
    log_actual: np.ndarray,
    log_predicted: np.ndarray,
    years: np.ndarray,
    conditions: np.ndarray,
    level: float,
    folds: KFold,
) -> np.ndarray:
    """Each house's log half-width from an interval calibrated on the other folds only."""
    radii = np.empty_like(log_predicted, dtype=np.float64)
    for fit_rows, held_rows in folds.split(log_predicted):
        model = calibrate(
            log_actual=log_actual[fit_rows],
            log_predicted=log_predicted[fit_rows],
            years=years[fit_rows],
            conditions=conditions[fit_rows],
            level=level,
            folds=folds,
        )
        radii[held_rows] = radii_of(
            model, log_predicted[held_rows], years[held_rows], conditions[held_rows]
        )
    return radii


def radii_of(
    model: IntervalModel, log_predicted: np.ndarray, years: np.ndarray, conditions: np.ndarray
) -> np.ndarray:
    """The model's log half-widths for houses given as arrays (conditions as names)."""
    effects = np.array([model.condition_effects.get(str(c), 0.0) for c in conditions])
    return model.log_radius(log_predicted, years, effects)
