"""The loop: retrain on data that grew, make a challenger, promote it, roll it back.

``retrain`` trains on the shipped data plus accepted feedback and, when every gate passes,
points ``challenger`` at the new version (never ``champion``). ``check`` is run after
feedback arrives: it pairs the sale prices that arrived after the challenger was made
(houses it never trained on) with both versions' prices and lets ``ml.promotion`` decide;
after a promotion it watches the new champion the same way against the previous one
(remembered by the ``previous`` alias) and brings that one back when the new one breaks a
gate live or is significantly worse. Every move is recorded in the alias history
(``ml.alias_history``), logged, and counted (``model_alias_moves_total``, CloudWatch
``ModelRollbacks``/``ModelPromotions``).

Both versions are re-scored on the paired houses here; once the gateway records shadow
predictions per prediction id, ``paired_prices`` is the one function to swap.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from core.settings import AppSettings
from jobs.feedback_rows import FeedbackRow, rows_frame
from ml.alias_history import Action, AliasEvent
from ml.config import TrainConfig, load_config
from ml.market_drift import MarketDrift, estimate_drift
from ml.promotion import Decision, decide_promotion, decide_rollback
from ml.registry import (
    alias_history,
    delete_alias,
    record_alias_event,
    resolve_alias,
    set_alias,
)
from ml.replay import compare
from observability.logging import get_logger
from observability.metrics import record_alias_move
from observability.sink import MetricsSink
from workers.training import feedback_rows, train_version

log = get_logger("workers.lifecycle")
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
if TYPE_CHECKING:
    from ml.predict import Predictor

# The predictors of registered versions, by version: the caller's (``WorkerContext.models``
# in the training worker, a ``workers.model_cache.ModelCache`` in a one-shot command).
Models = Callable[[str], "Predictor"]


class RetrainOutcome(BaseModel):
    """What one retrain made."""

    version: str
    passed: bool
    challenger: bool
    gates: list[str]
    data_version: dict[str, Any]


class PairedPrices(BaseModel):
    """Actual prices of houses with both versions' predictions for them (same order)."""

    keys: list[str]
    actual: list[float]
    candidate: list[float]
    baseline: list[float]
    candidate_low: list[float]
    candidate_high: list[float]


def retrain(
    settings: AppSettings,
    *,
    kind: str,
    reason: str,
    data: Any = None,
    sink: MetricsSink | None = None,
) -> RetrainOutcome:
    """Train on the data including feedback; on passing gates the version becomes challenger."""
    core = settings.core
    config = load_config(core.training_config)
    tracking_uri, name = core.resolved_tracking_uri(), config.registered_model
    before = resolve_alias(tracking_uri=tracking_uri, name=name, alias=CHALLENGER)
    trained = train_version(
        data=data or core.training_data,
        config=config,
        config_path=core.training_config,
        settings=settings,
        with_feedback=True,
        alias=CHALLENGER,
        progress=lambda line: log.info("retrain_progress", line=line),
    )
    result, version = trained.result, trained.registered.version
    gates = [str(g) for g in result.gates]
    if result.relative is not None:
        gates.append(f"relative gate {result.relative.status}: {result.relative.reason}")
    details = {
        "gates": gates,
        "data_version": trained.data_version.model_dump(),
        # Compact: the per-fold scores stay in the run's evaluation/gate_cv.json.
        "estimate": result.estimate.model_dump(exclude={"fold_metrics"})
        if result.estimate
        else None,
        "relative": result.relative.model_dump(include={"status", "champion_version", "difference"})
        if result.relative
        else None,
    }
    if result.passed:
        _record(
            settings,
            config.registered_model,
            action="challenger",
            alias=CHALLENGER,
            version=version,
            previous=before,
            reason=f"retrained ({kind}: {reason}); every gate passed, "
            f"relative gate {result.relative.status if result.relative else 'not_applicable'}",
            by=f"rule:{kind}-trigger",
            details=details,
            sink=sink,
        )
    else:
        failed = ", ".join(result.failed_gates)
        _record(
            settings,
            config.registered_model,
            action="rejected",
            alias=None,
            version=version,
            reason=f"retrained ({kind}: {reason}); gates failed ({failed}): no alias moved",
            by="rule:gates",
            details=details,
            sink=sink,
        )
    return RetrainOutcome(
        version=version,
        passed=result.passed,
        challenger=result.passed,
        gates=gates,
        data_version=trained.data_version.model_dump(),
    )


def check(
    settings: AppSettings, *, models: Models, sink: MetricsSink | None = None
) -> AliasEvent | None:
    """Roll back a failing new champion, or promote a proven challenger; the move made, if any.

    ``models`` gives the predictor of a version (loaded once by the caller's cache).
    """
    core = settings.core
    config = load_config(core.training_config)
    if not config.auto_promotion.enabled:
        return None
    tracking_uri, name = core.resolved_tracking_uri(), config.registered_model
    aliases = {
        alias: resolve_alias(tracking_uri=tracking_uri, name=name, alias=alias)
        for alias in (CHAMPION, CHALLENGER, PREVIOUS)
    }
    history = alias_history(tracking_uri=tracking_uri, name=name)
    champion, challenger, previous = aliases[CHAMPION], aliases[CHALLENGER], aliases[PREVIOUS]
    if champion is None:
        return None
    rows: list[FeedbackRow] | None = None
    if previous is not None and previous != champion:
        since = _since(history, "promotion", champion)
        rows = feedback_rows(settings)
        paired = paired_prices(models, rows, since=since, candidate=champion, baseline=previous)
        decision = _rollback_decision(models, config, paired, champion)
        log.info("loop_rollback_check", champion=champion, previous=previous, **_brief(decision))
        if decision.act:
            return _move(settings, config, "rollback", champion, previous, decision, sink)
    if challenger is not None and challenger != champion:
        since = _since(history, "challenger", challenger)
        rows = rows if rows is not None else feedback_rows(settings)
        paired = paired_prices(models, rows, since=since, candidate=challenger, baseline=champion)
        decision = _promotion_decision(settings, models, config, paired, challenger, champion)
        log.info(
            "loop_promotion_check", champion=champion, challenger=challenger, **_brief(decision)
        )
        if decision.act:
            return _move(settings, config, "promotion", champion, challenger, decision, sink)
    return None


def record_manual_move(
    settings: AppSettings, *, alias: str, version: str, previous: str | None, reason: str
) -> AliasEvent:
    """Record a move made by a person (``hpp promote``, ``hpp train``)."""
    return _record(
        settings,
        settings.core.registered_model,
        action="manual",
        alias=alias,
        version=version,
        previous=previous,
        reason=reason,
        by=f"person:{_user()}",
        details={},
        sink=None,
    )


def paired_prices(
    models: Models,
    rows: list[FeedbackRow],
    *,
    since: float,
    candidate: str,
    baseline: str,
) -> PairedPrices:
    """Houses with a sale price accepted at or after ``since``, priced by both versions."""
    frame = rows_frame([r for r in rows if r.at >= since and r.features is not None])
    if frame.empty:
        return PairedPrices(
            keys=[], actual=[], candidate=[], baseline=[], candidate_low=[], candidate_high=[]
        )
    cand = models(candidate).predict_frame(frame)
    base = models(baseline).predict_frame(frame)
    ok = cand["predicted_price"].notna() & base["predicted_price"].notna()
    return PairedPrices(
        keys=frame.loc[ok, "key"].tolist(),
        actual=frame.loc[ok, "price"].astype(float).tolist(),
        candidate=cand.loc[ok, "predicted_price"].tolist(),
        baseline=base.loc[ok, "predicted_price"].tolist(),
        candidate_low=cand.loc[ok, "price_low"].tolist(),
        candidate_high=cand.loc[ok, "price_high"].tolist(),
    )


def challenger_drift(
    settings: AppSettings, *, models: Models, config: TrainConfig, challenger: str, champion: str
) -> MarketDrift:
    """The market drift on the sale prices the challenger never trained on (as the loop)."""
    since = _since(
        alias_history(
            tracking_uri=settings.core.resolved_tracking_uri(), name=config.registered_model
        ),
        "challenger",
        challenger,
    )
    paired = paired_prices(
        models, feedback_rows(settings), since=since, candidate=challenger, baseline=champion
    )
    return _drift(config, paired)


def _drift(config: TrainConfig, paired: PairedPrices) -> MarketDrift:
    return estimate_drift(
        np.asarray(paired.actual),
        np.asarray(paired.baseline),
        level=config.promotion.drift_level,
        min_paired=config.auto_promotion.min_paired,
        enabled=config.promotion.explain_drift,
    )


def _promotion_decision(
    settings: AppSettings,
    models: Models,
    config: TrainConfig,
    paired: PairedPrices,
    challenger: str,
    champion: str,
) -> Decision:
    failures: list[str] = []
    actual, baseline = np.asarray(paired.actual), np.asarray(paired.baseline)
    drift = _drift(config, paired)
    if len(paired.actual) >= config.auto_promotion.min_paired:
        failures, drift = _replay_failures(
            settings, models, config, challenger=challenger, champion=champion, drift=drift
        )
    return decide_promotion(
        actual,
        np.asarray(paired.candidate),
        baseline,
        policy=config.auto_promotion,
        replay_failures=failures,
        drift=drift,
    )


def _rollback_decision(
    models: Models, config: TrainConfig, paired: PairedPrices, champion: str
) -> Decision:
    card = models(champion).card
    thresholds = card.gates.model_dump(include={"r2_min", "mae_max", "rmse_max"})
    gates = {k: v for k, v in thresholds.items() if v is not None}
    return decide_rollback(
        np.asarray(paired.actual),
        np.asarray(paired.candidate),
        np.asarray(paired.candidate_low),
        np.asarray(paired.candidate_high),
        np.asarray(paired.baseline),
        gates=gates,
        policy=config.auto_promotion,
    )


def _replay_failures(
    settings: AppSettings,
    models: Models,
    config: TrainConfig,
    *,
    challenger: str,
    champion: str,
    drift: MarketDrift,
) -> tuple[list[str], MarketDrift]:
    """The replay report's limit failures on the champion's hold-out (as ``hpp compare``),
    judged beyond ``drift`` when it applies; the drift with the shift it explained."""
    from ml.contract import FEATURE_COLUMNS
    from ml.registry import load_holdout

    core = settings.core
    frame = load_holdout(
        tracking_uri=core.resolved_tracking_uri(), name=config.registered_model, version=champion
    )
    report = compare(
        frame[list(FEATURE_COLUMNS)],
        models(champion).predict_frame(frame),
        models(challenger).predict_frame(frame),
        versions=(champion, challenger),
        source={"kind": "hold-out", "model_version": champion},
        limits=config.promotion,
        actual=pd.Series(frame["actual"].to_numpy()),
        drift=drift,
    )
    return list(report["verdict"]["failures"]), MarketDrift.model_validate(report["drift"])


def _move(
    settings: AppSettings,
    config: TrainConfig,
    action: Action,
    champion: str,
    target: str,
    decision: Decision,
    sink: MetricsSink | None,
) -> AliasEvent:
    """Point champion at ``target``; remember or forget the previous one; record the move."""
    tracking_uri, name = settings.core.resolved_tracking_uri(), config.registered_model
    if action == "promotion":
        set_alias(tracking_uri=tracking_uri, name=name, alias=PREVIOUS, version=champion)
        set_alias(tracking_uri=tracking_uri, name=name, alias=CHAMPION, version=target)
        delete_alias(tracking_uri=tracking_uri, name=name, alias=CHALLENGER)
    else:  # rollback: the failed version is neither champion nor challenger any more
        set_alias(tracking_uri=tracking_uri, name=name, alias=CHAMPION, version=target)
        delete_alias(tracking_uri=tracking_uri, name=name, alias=PREVIOUS)
    return _record(
        settings,
        config.registered_model,
        action=action,
        alias=CHAMPION,
        version=target,
        previous=champion,
        reason=decision.reason,
        by=f"rule:auto_{action}",
        details={
            "test": decision.test.model_dump() if decision.test else None,
            "drift": decision.drift.model_dump() if decision.drift else None,
            **decision.details,
        },
        sink=sink,
    )


def _record(
    settings: AppSettings,
    name: str,
    *,
    action: Action,
    alias: str | None,
    version: str,
    reason: str,
    by: str,
    details: dict[str, Any],
    sink: MetricsSink | None,
    previous: str | None = None,
) -> AliasEvent:
    event = record_alias_event(
        tracking_uri=settings.core.resolved_tracking_uri(),
        name=name,
        event=AliasEvent(
            at=datetime.now(UTC).isoformat(),
            action=action,
            alias=alias,
            version=version,
            previous=previous,
            reason=reason,
            by=by,
            details=details,
        ),
    )
    if alias is not None:
        record_alias_move(action, sink=sink)
    log.info(
        "alias_moved" if alias else "version_rejected",
        action=action,
        alias=alias,
        version=version,
        previous=previous,
        reason=reason,
        by=by,
    )
    return event


def _since(history: list[AliasEvent], action: str, version: str) -> float:
    """When ``version`` last got its role (``action``); paired feedback counts from then."""
    for event in reversed(history):
        if event.action == action and event.version == version:
            return datetime.fromisoformat(event.at).timestamp()
    return float("inf")  # no record of how it got there: nothing is known to be unseen


def _brief(decision: Decision) -> dict[str, Any]:
    drift = decision.drift
    return {
        "act": decision.act,
        "reason": decision.reason,
        "drift": drift.change if drift else None,
        "drift_applied": drift.applied if drift else None,
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
