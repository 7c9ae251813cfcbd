"""Serving: load a registered model once, predict one house in microseconds, or a frame fast.

The single-row path never touches pandas: ``FastEncoder`` fills one row from the fitted
preprocessing's statistics and the estimator scores it directly (the booster's
``inplace_predict`` for XGBoost). Results equal the pipeline's own ``predict``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor

from ml.card import IntervalCard, ModelCard
from ml.categories import (
    AliasTable,
    CategoryError,
    CategoryMatcher,
    CategoryProblem,
    CategoryRewrite,
    MatchKind,
    UnknownCategories,
    load_aliases,
)
from ml.category_frame import match_frame, merge_errors
from ml.comparables import SalesIndex, comparable_columns
from ml.contract import (
    CATEGORY_COLUMNS,
    FEATURE_COLUMNS,
    HouseFeatures,
    Prediction,
    PredictionInterval,
    unseen_category_warning,
)
from ml.encoding import FastEncoder
from ml.frame_rules import coerce_frame, validate_frame
from ml.intervals import IntervalModel
from ml.profile import DomainCheck
from ml.trees import TreeEnsemble, compile_booster


@dataclass(frozen=True)
class ScoredFrame:
    """``predict_frame``'s table, and how many rows each category spelling was read as."""

    table: pd.DataFrame
    rewrites: list[CategoryRewrite]
    categories: pd.DataFrame  # the category columns as read (canonical where matched)


class Scorer(Protocol):
    """Log-price scoring of encoded rows, the estimator-specific part of serving."""

    def margin(self, encoded: np.ndarray) -> np.ndarray: ...

    def contributions(self, encoded: np.ndarray) -> np.ndarray | None: ...


@dataclass
class Predictor:
    """A loaded model version: fast single-row and vectorised scoring with intervals."""

    version: str
    card: ModelCard
    pipeline: TransformedTargetRegressor
    encoder: FastEncoder
    scorer: Scorer
    intervals: IntervalModel
    domain: DomainCheck | None = None  # None for cards trained before profiles existed
    sales: SalesIndex | None = None  # None for versions trained before sales were stored
    matcher: CategoryMatcher = field(init=False, repr=False)
    _condition_columns: slice = field(init=False, repr=False)
    _condition_effects: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.matcher = category_matcher(self.card, self.encoder.categories)
        # The condition's one-hot columns are adjacent: a view of them times each one's effect.
        columns = self.encoder.categories["condition"]
        self._condition_columns = slice(min(columns.values()), max(columns.values()) + 1)
        effects = self.intervals.condition_column_effects(columns, self.encoder.width)
        self._condition_effects = effects[self._condition_columns].astype(np.float32)

    @property
    def level(self) -> float:
        """The intervals' nominal coverage."""
        return self.intervals.level

    @classmethod
    def load(cls, model_uri: str, *, tracking_uri: str | None = None) -> Predictor:
        """Load a registered version (``models:/name@alias`` or ``models:/name/3``)."""
        from ml.registry import load_registered, load_training_sales

        pipeline, card = load_registered(model_uri, tracking_uri=tracking_uri)
        sales = load_training_sales(tracking_uri=tracking_uri, run_id=str(card.run_id))
        return cls.from_pipeline(pipeline, card, sales=sales)

    @classmethod
    def from_pipeline(
        cls,
        pipeline: TransformedTargetRegressor,
        card: ModelCard,
        *,
        sales: pd.DataFrame | None = None,
    ) -> Predictor:
        """Build from a fitted pipeline, its model card and (optionally) its training sales."""
        steps = pipeline.regressor_.named_steps
        version = card.version or "unregistered"
        return cls(
            version=version,
            card=card.model_copy(update={"version": version}),  # what /v1/model answers
            pipeline=pipeline,
            encoder=FastEncoder.from_steps(steps["features"], steps["preprocess"]),
            scorer=make_scorer(steps["model"]),
            intervals=interval_model(card.interval),
            domain=DomainCheck.from_profile(card.profile),
            sales=None if sales is None else SalesIndex.from_sales(sales),
        )

    def predict_one(
        self,
        features: HouseFeatures,
        *,
        explain: bool = False,
        comparables: int = 0,
        unknown_categories: UnknownCategories = "warn",
    ) -> Prediction:
        """Price one house, with its interval, warnings and (on request) contributions and
        its ``comparables`` most similar training sales.

        Categories are read as their canonical names first (``canonical_house``, which
        raises ``CategoryError`` for a near miss, or an unknown name when strict).
        """
        features = self.canonical_house(features, unknown_categories=unknown_categories)
        encoded = self._encode(features)
        margin = float(self.scorer.margin(encoded)[0])
        radius = self.intervals.log_radius_one(margin, features.year_built, features.condition)
        prediction = self._prediction(margin, radius, self._warnings(features))
        if explain:
            self._explain(prediction, encoded, margin)
        if comparables:
            self._add_comparables(prediction, features, comparables)
        return prediction

    def prices(self, houses: list[HouseFeatures]) -> np.ndarray:
        """The prices alone of validated houses, in one vectorised pass: what a version
        scoring in shadow needs (no interval, warnings or response objects). NaN where this
        version refuses a house's category (a near miss of one of its names)."""
        encoded = np.zeros((len(houses), self.encoder.width), dtype=np.float32)
        refused = np.zeros(len(houses), dtype=bool)
        for i, house in enumerate(houses):
            try:
                house = self.canonical_house(house)
            except CategoryError:
                refused[i] = True
                continue
            encoded[i] = self._encode(house)[0]
        prices: np.ndarray = np.exp(self.scorer.margin(encoded).astype(np.float64))
        prices[refused] = np.nan
        return prices

    def _encode(self, house: HouseFeatures) -> np.ndarray:
        """One validated house (canonical categories) as an encoded row of shape (1, width)."""
        return self.encoder.encode_one(
            sqft=house.sqft,
            bedrooms=house.bedrooms,
            bathrooms=house.bathrooms,
            year_built=house.year_built,
            location=house.location,
            condition=house.condition,
        )

    def canonical_house(
        self, features: HouseFeatures, *, unknown_categories: UnknownCategories = "warn"
    ) -> HouseFeatures:
        """The house with its categories as canonical names (itself if they already are).

        Raises ``CategoryError`` naming each near miss with its suggestion and, when
        ``unknown_categories`` is ``error``, each name the model would score as unknown.
        """
        matcher = self.matcher
        location = matcher.match("location", features.location)
        condition = matcher.match("condition", features.condition)
        strict = unknown_categories == "error"
        if location.kind is MatchKind.EXACT and condition.kind is MatchKind.EXACT and not strict:
            return features  # the common case: two dict lookups
        problems = [
            CategoryProblem(field=column, message=message, suggestion=found.suggestion)
            for column, found in (("location", location), ("condition", condition))
            if (message := matcher.problem(column, found, strict=strict)) is not None
        ]
        if problems:
            raise CategoryError(problems)
        if features.location == location.name and features.condition == condition.name:
            return features
        return features.model_copy(update={"location": location.name, "condition": condition.name})

    def predict_batch(
        self,
        rows: list[HouseFeatures],
        *,
        explain: bool = False,
        unknown_categories: UnknownCategories = "warn",
    ) -> list[Prediction]:
        """Price many validated houses in one vectorised call (categories read as in
        ``canonical_house``; a refusal names each row's field as ``rows.<i>.<field>``)."""
        if not rows:
            return []
        rows = self.canonical_rows(rows, unknown_categories=unknown_categories)
        frame = pd.DataFrame([r.model_dump() for r in rows], columns=list(FEATURE_COLUMNS))
        encoded = self.encoder.encode_frame(coerce_frame(frame))
        margins = self.scorer.margin(encoded)
        radii = self._log_radii(margins, frame["year_built"].to_numpy(np.float64), encoded)
        predictions = [
            self._prediction(float(m), float(radius), self._warnings(r))
            for m, radius, r in zip(margins, radii, rows, strict=True)
        ]
        if explain:
            for i, prediction in enumerate(predictions):
                self._explain(prediction, encoded[i : i + 1], float(margins[i]))
        return predictions

    def canonical_rows(
        self, rows: list[HouseFeatures], *, unknown_categories: UnknownCategories = "warn"
    ) -> list[HouseFeatures]:
        """``canonical_house`` of each row; one ``CategoryError`` naming every bad row."""
        out: list[HouseFeatures] = []
        problems: list[CategoryProblem] = []
        for index, row in enumerate(rows):
            try:
                out.append(self.canonical_house(row, unknown_categories=unknown_categories))
            except CategoryError as exc:
                problems += [
                    p.model_copy(update={"field": f"rows.{index}.{p.field}"}) for p in exc.problems
                ]
        if problems:
            raise CategoryError(problems)
        return out

    def predict_frame(
        self,
        frame: pd.DataFrame,
        *,
        comparables: int = 0,
        unknown_categories: UnknownCategories = "warn",
    ) -> pd.DataFrame:
        """Score raw rows (CSV strings fine): prices and bounds, or a reason per bad row.

        With ``comparables`` = k, k more column triples follow (``comp{i}_price``,
        ``comp{i}_adjusted``, ``comp{i}_distance``), empty on bad rows.
        """
        return self.score_frame(
            frame, comparables=comparables, unknown_categories=unknown_categories
        ).table

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        comparables: int = 0,
        unknown_categories: UnknownCategories = "warn",
    ) -> ScoredFrame:
        """``predict_frame``'s table and the category rewrites made to score it.

        Categories are read as canonical names, each distinct spelling once; a near miss
        (or, when ``unknown_categories`` is ``error``, an unknown name) is the row's error.
        """
        result = pd.DataFrame(index=frame.index)
        missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
        if missing:
            raise KeyError(f"missing required columns: {', '.join(missing)}")
        as_sent = coerce_frame(frame)
        matched = match_frame(self.matcher, as_sent, strict=unknown_categories == "error")
        errors = merge_errors(validate_frame(frame, as_sent), matched.errors)
        coerced = matched.frame
        valid = errors.isna().to_numpy()
        prices, radii = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        if valid.any():
            typed = coerced if valid.all() else coerced.loc[valid]
            encoded = self.encoder.encode_frame(typed)
            margins = self.scorer.margin(encoded).astype(np.float64)
            prices[valid] = np.exp(margins)
            years = typed["year_built"].to_numpy(np.float64)
            radii[valid] = self._log_radii(margins, years, encoded)
        result["predicted_price"] = prices
        result["price_low"] = prices * np.exp(-radii)
        result["price_high"] = prices * np.exp(radii)
        result["error"] = errors
        result["warning"] = self._frame_warnings(coerced, valid)
        if comparables:
            houses = coerced.loc[valid].assign(predicted_price=prices[valid])
            found = comparable_columns(self.sales, houses, comparables)
            result = result.join(found.reindex(result.index))
        return ScoredFrame(result, matched.rewrites, coerced[list(CATEGORY_COLUMNS)])

    def pipeline_predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The fitted pipeline's own predict (the slow reference the fast paths must equal)."""
        return np.asarray(self.pipeline.predict(frame[list(FEATURE_COLUMNS)]), dtype=np.float64)

    def _log_radii(self, margins: np.ndarray, years: np.ndarray, encoded: np.ndarray) -> np.ndarray:
        """Per-house half-widths in log price; the condition read from its one-hot columns."""
        rows = encoded[:, self._condition_columns].astype(np.float32, copy=False)
        conditions = (rows @ self._condition_effects).astype(np.float64)
        return self.intervals.log_radius(margins.astype(np.float64), years, conditions)

    def _prediction(self, margin: float, radius: float, warnings: list[str]) -> Prediction:
        price = math.exp(margin)
        return Prediction(
            predicted_price=price,
            interval=PredictionInterval(
                low=price * math.exp(-radius),
                high=price * math.exp(radius),
                level=self.level,
            ),
            model_version=self.version,
            warnings=warnings,
        )

    def _warnings(self, features: HouseFeatures) -> list[str]:
        unseen = [
            self._unseen_warning(column, value)
            for column, value in (
                ("location", features.location),
                ("condition", features.condition),
            )
            if not self.encoder.known(column, value)
        ]
        if self.domain is None:
            return unseen
        return unseen + self.domain.warnings(features.model_dump())

    def _unseen_warning(self, column: str, value: str) -> str:
        return unseen_category_warning(column, value, in_data=self._untrained(column).get(value, 0))

    def _untrained(self, column: str) -> dict[str, int]:
        """Categories of the data absent from the training split (cards since they are kept)."""
        return dict(self.card.untrained_categories.get(column) or {})

    def _frame_warnings(self, categories: pd.DataFrame, valid: np.ndarray) -> pd.Series:
        warnings = pd.Series([None] * len(categories), index=categories.index, dtype=object)
        for column in CATEGORY_COLUMNS:
            values = categories[column]
            unseen = valid & ~values.isin(list(self.encoder.categories[column])).to_numpy(bool)
            if not unseen.any():
                continue
            names = values[unseen].astype(str)
            text = names.map({v: self._unseen_warning(column, v) for v in names.unique()})
            warnings[unseen] = np.where(
                warnings[unseen].isna(), text, warnings[unseen].astype(str) + "; " + text
            )
        if self.domain is not None:
            domain = self.domain.frame_warnings(categories, valid)
            both = warnings.notna() & domain.notna()
            warnings = warnings.where(warnings.notna(), domain)
            warnings[both] = warnings[both].astype(str) + "; " + domain[both].astype(str)
        return warnings

    def _add_comparables(self, prediction: Prediction, features: HouseFeatures, k: int) -> None:
        if self.sales is None:
            prediction.warnings.append(
                f"comparables are not available for model version {self.version}: "
                "it was trained before training sales were stored with the model"
            )
            return
        prediction.comparables = self.sales.comparables(
            features, price=prediction.predicted_price, k=k
        )

    def _explain(self, prediction: Prediction, encoded: np.ndarray, margin: float) -> None:
        contributions = self.scorer.contributions(encoded)
        if contributions is None:
            prediction.warnings.append("explanations are not available for this model type")
            return
        prediction.contributions, prediction.baseline = dollar_contributions(
            contributions[0], self.encoder.groups, margin
        )


def category_matcher(card: ModelCard, trained: dict[str, dict[str, int]]) -> CategoryMatcher:
    """The version's matcher: its trained categories, the data's untrained ones, and the
    alias table stored with it (the packaged table for versions trained before)."""
    untrained = card.untrained_categories
    names = {column: [*known, *(untrained.get(column) or {})] for column, known in trained.items()}
    stored = card.aliases
    aliases = AliasTable(columns=stored) if stored else load_aliases()
    return CategoryMatcher(names, aliases, trained=trained)


def interval_model(section: IntervalCard) -> IntervalModel:
    """The card's interval model; one radius for versions trained before per-house intervals."""
    if section.model is not None:
        return section.model
    if section.log_radius is None:
        raise ValueError("the card's interval section has neither a model nor a log radius")
    return IntervalModel.constant(section.level, section.log_radius)


def dollar_contributions(
    log_contributions: np.ndarray, groups: list[str], margin: float
) -> tuple[dict[str, float], float]:
    """Spread ``price - baseline`` over features in proportion to their log-price shares.

    The model is additive in log price (``margin = bias + Σφ``); in dollars that becomes
    ``exp(bias) + Σ dollars_i`` with each feature keeping its share of the total effect,
    so the dollars add up exactly to the prediction.
    """
    bias, phis = float(log_contributions[-1]), log_contributions[:-1]
    grouped: dict[str, float] = {}
    for group, phi in zip(groups, phis, strict=True):
        grouped[group] = grouped.get(group, 0.0) + float(phi)
    baseline = math.exp(bias)
    effect = math.exp(margin) - baseline
    total = sum(grouped.values())
    if abs(total) < 1e-12:
        return {g: 0.0 for g in grouped}, baseline
    return {g: effect * phi / total for g, phi in grouped.items()}, baseline


def make_scorer(estimator: Any) -> Scorer:
    """The fastest faithful scorer for a fitted estimator."""
    name = type(estimator).__name__
    if name == "XGBRegressor":
        return BoosterScorer(estimator.get_booster())
    if name == "LinearRegression":
        return LinearScorer(np.asarray(estimator.coef_), float(estimator.intercept_))
    return EstimatorScorer(estimator)


FEW_ROWS = 64  # up to here the compiled trees beat inplace_predict's fixed cost (~200 µs)


@dataclass
class BoosterScorer:
    """XGBoost: compiled trees for one row, ``inplace_predict`` for many, exact SHAP values."""

    booster: Any
    trees: TreeEnsemble | None = None

    def __post_init__(self) -> None:
        if self.trees is None:
            self.trees = compile_booster(self.booster)
        # Training ran one thread per fit; scoring many rows may use every core.
        self.booster.set_param({"nthread": os.cpu_count() or 1})

    def margin(self, encoded: np.ndarray) -> np.ndarray:
        if self.trees is not None and len(encoded) == 1:
            return np.asarray([self.trees.margin_one(encoded)], dtype=np.float32)
        if self.trees is not None and len(encoded) <= FEW_ROWS:
            return self.trees.margin_many(encoded)
        return np.asarray(self.booster.inplace_predict(encoded))

    def contributions(self, encoded: np.ndarray) -> np.ndarray | None:
        import xgboost

        return np.asarray(self.booster.predict(xgboost.DMatrix(encoded), pred_contribs=True))


@dataclass
class LinearScorer:
    """Linear regression: a dot product; contributions are coefficient times value."""

    coef: np.ndarray
    intercept: float

    def margin(self, encoded: np.ndarray) -> np.ndarray:
        margins: np.ndarray = encoded @ self.coef + self.intercept
        return margins

    def contributions(self, encoded: np.ndarray) -> np.ndarray | None:
        parts = encoded * self.coef
        bias = np.full((len(encoded), 1), self.intercept)
        return np.hstack([parts, bias])


@dataclass
class EstimatorScorer:
    """Any other scikit-learn estimator: its own ``predict``; no contributions."""

    estimator: Any

    def margin(self, encoded: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(encoded))

    def contributions(self, encoded: np.ndarray) -> np.ndarray | None:
        return None
