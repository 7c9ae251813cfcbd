"""Model: the serving model's card, its quality against the gates, and how it errs."""

from __future__ import annotations

from nicegui import ui

from ml.card import IntervalCard, ModelCard
from webui.api import GatewayError, GatewayUnavailableError
from webui.components.charts import (
    importance_options,
    predicted_vs_actual_options,
    residuals_options,
)
from webui.components.formatting import money, signed_money
from webui.components.house_form import LABELS
from webui.components.loop_history import version_timeline
from webui.components.marks import testid
from webui.components.tables import table_column
from webui.deps import UIDeps
from webui.layout import Frame, frame

PATH = "/model"
# metric -> (gate key, higher is better, how to show it)
GATED_METRICS: dict[str, tuple[str, bool, str]] = {
    "r2": ("r2_min", True, "R²"),
    "mae": ("mae_max", False, "MAE"),
    "rmse": ("rmse_max", False, "RMSE"),
}


async def page(deps: UIDeps) -> None:
    """Build the model page."""
    with frame("The model", path=PATH, deps=deps) as shell:
        ModelView(shell)


class ModelView:
    """Loads the card and lays it out; reloads when the gateway comes back."""

    def __init__(self, shell: Frame) -> None:
        self._shell = shell
        self.body = (
            ui.column().classes("w-full gap-4").mark("model-body").props(testid("model-body"))
        )
        with self.body:
            ui.label("Loading the model card…").classes("text-gray-600")
        shell.banner.on_recover(self.load)
        ui.timer(0.01, self.load, once=True)

    async def load(self) -> None:
        """Fetch the card and show it."""
        try:
            card = await self._shell.api.model_card()
            history = await self._shell.api.model_history()
        except (GatewayError, GatewayUnavailableError) as exc:
            self._shell.banner.report(exc)
            self.body.clear()
            with self.body:
                ui.label("The model card is not available right now.").classes("text-gray-600")
            return
        self.body.clear()
        with self.body:
            _overview(card)
            _quality(card)
            _intervals(card.interval)
            version_timeline(history)
            _plots(card)


def _overview(card: ModelCard) -> None:
    with (
        ui.card().classes("w-full"),
        ui.element("div").classes("grid grid-cols-1 sm:grid-cols-3 gap-4 w-full"),
    ):
        _fact("Version", card.version or "–", "model-version")
        _fact("Trained at", _when(card.trained_at), "trained-at")
        _fact("Model type", card.model_type or "–", "model-type")
        data = card.data
        _fact("Training rows", f"{data.rows:,}" if data.rows is not None else "–", "data-rows")
        _fact("Data file", data.path or "–", "data-path")
        _fact("Data sha256", (data.sha256 or "–")[:12], "data-sha")


def _quality(card: ModelCard) -> None:
    with ui.card().classes("w-full"):
        passed = card.gates.passed
        with ui.row().classes("items-center gap-2"):
            ui.label("Quality against the gates").classes("text-lg font-medium")
            if passed is not None:
                ui.badge(
                    "passed" if passed else "failed", color="positive" if passed else "negative"
                )
        estimate = card.gates.estimate
        if estimate is not None:
            ui.label(
                f"Judged on the mean of {estimate.repeats} × {estimate.folds}-fold "
                f"cross-validation of the whole pipeline on {estimate.rows:,} houses (the "
                f"selection re-run inside each fold), with its {estimate.level:.0%} confidence "
                "interval; the fixed hold-out is shown beside it, not judged."
            ).classes("text-sm text-gray-600").mark("gate-method").props(testid("gate-method"))
        rows = [_gate_row(card, metric) for metric in GATED_METRICS]
        columns = [
            {"name": k, "label": label, "field": k, "align": "left"}
            for k, label in (
                ("metric", "Metric"),
                ("value", "Estimate" if estimate is not None else "Value"),
                ("interval", f"{estimate.level:.0%} interval" if estimate else "Interval"),
                ("gate", "Gate"),
                ("result", "Result"),
                ("holdout", "Hold-out"),
            )
        ]
        ui.table(columns=columns, rows=rows).props("dense flat wrap-cells").classes(
            "w-full overflow-x-auto"
        ).mark("metrics-table").props(testid("metrics-table"))
        for failure in card.gates.failures:
            ui.label(failure).classes("text-red-800 text-sm")
        _relative(card)
        if card.candidates:
            _candidates(card)


def _gate_row(card: ModelCard, metric: str) -> dict[str, str]:
    """One metric: the estimate judged (CV mean; the hold-out on older cards), its interval,
    the gate, the verdict (and whether the interval straddles the gate), the hold-out."""
    gate_key, higher_better, name = GATED_METRICS[metric]
    threshold = getattr(card.gates, gate_key, None)
    judged = next((g for g in card.gates.results if g.name == gate_key), None)
    estimate = card.gates.estimate.metrics.get(metric) if card.gates.estimate else None
    value = estimate.mean if estimate is not None else card.metrics.get(metric)
    ok = judged.passed if judged is not None else None
    if ok is None and value is not None and threshold is not None:
        ok = value >= threshold if higher_better else value <= threshold
    result = {True: "✔ pass", False: "✘ fail", None: "–"}[ok]
    if judged is not None and judged.straddles:
        result += " (interval straddles the gate)"
    return {
        "metric": name,
        "value": _metric(metric, value),
        "interval": f"{_metric(metric, estimate.low)} – {_metric(metric, estimate.high)}"
        if estimate is not None
        else "–",
        "gate": ("≥ " if higher_better else "≤ ") + _metric(metric, threshold)
        if threshold is not None
        else "–",
        "result": result,
        "holdout": _metric(metric, card.metrics.get(metric)),
    }


def _relative(card: ModelCard) -> None:
    """The relative gate: not worse than the champion beyond noise, on the same folds."""
    relative = card.gates.relative
    if relative is None:
        return
    words = {"passed": "passed", "failed": "failed", "not_applicable": "not applicable"}
    text = f"Against the champion: {words[relative.status]}"
    rmse = relative.difference.get("rmse")
    if relative.champion_version is not None and rmse is not None:
        level = card.gates.estimate.level if card.gates.estimate else 0.9
        text += (
            f" (v{relative.champion_version}, {relative.champion_model_type}, refitted on the "
            f"same folds: RMSE {signed_money(rmse.mean)}, {level:.0%} interval "
            f"{signed_money(rmse.low)} to {signed_money(rmse.high)})"
        )
    else:
        text += f" ({relative.reason})"
    color = "text-red-800" if relative.status == "failed" else "text-gray-700"
    ui.label(text + ".").classes(f"text-sm {color}").mark("relative-gate").props(
        testid("relative-gate")
    )


CANDIDATE_NAMES = {
    "linear_regression": "Linear regression",
    "random_forest": "Random forest",
    "gradient_boosting": "Gradient boosting",
    "xgboost": "XGBoost",
}


def _intervals(interval: IntervalCard) -> None:
    """How sure the model is: interval coverage and width on unseen houses, by group."""
    with ui.card().classes("w-full"):
        ui.label("How sure: prediction intervals").classes("text-lg font-medium")
        ui.label(_coverage_headline(interval)).classes("text-gray-700").mark(
            "interval-coverage"
        ).props(testid("interval-coverage"))
        if interval.method:
            ui.label(f"Method: {interval.method}.").classes("text-sm text-gray-600")
        if interval.by_group:
            _coverage_table(interval)


def _coverage_headline(interval: IntervalCard) -> str:
    """The overall coverage, from the same houses as the table below when it has them.

    A card with cross-fitted figures (every training house scored by a model that never saw
    it) leads with their "all" row, and quotes the smaller hold-out beside it; older cards
    only have the hold-out.
    """
    text = f"{interval.level:.0%} prediction intervals"
    overall = next((g for g in interval.by_group if g.partition == "all"), None)
    if overall is not None and interval.by_group_measured_on:
        text += (
            f" covered {overall.coverage:.1%} of {overall.houses:,} prices the model never saw"
            f"; on average they span {overall.mean_width:.0%} of the price"
        )
        if interval.coverage is not None:
            text += f" (on the hold-out alone: {interval.coverage:.1%})"
        return text + "."
    if interval.coverage is not None:
        text += f" covered {interval.coverage:.1%} of held-out prices"
    if interval.mean_width is not None:
        text += f"; on average they span {interval.mean_width:.0%} of the price"
    return text + "."


def _coverage_table(interval: IntervalCard) -> None:
    rows, previous = [], None
    for g in interval.by_group:
        # The partition names its first row only; on phones its column is hidden.
        shown = "" if g.partition in {"all", previous} else g.partition
        previous = g.partition
        rows.append(
            {
                "key": f"{g.partition}/{g.group}",
                "partition": shown,
                "group": g.group,
                "houses": f"{g.houses:,}",
                "coverage": f"{g.coverage:.1%}",
                "width": f"{g.mean_width:.0%}",
            }
        )
    hidden_on_phones = {"classes": "gt-xs", "headerClasses": "gt-xs"}
    columns = [
        {"name": "partition", "label": "By", "field": "partition", "align": "left"}
        | hidden_on_phones,
        {"name": "group", "label": "Group", "field": "group", "align": "left"},
        {"name": "houses", "label": "Houses", "field": "houses"},
        {"name": "coverage", "label": "Covered", "field": "coverage"},
        {"name": "width", "label": "Width", "field": "width"},
    ]
    ui.label("Coverage and mean width (share of the price) by group").classes("font-medium mt-2")
    measured_on = interval.by_group_measured_on or "the held-out houses"
    ui.label(f"Measured on {measured_on}.").classes("text-sm text-gray-600").mark(
        "coverage-measured-on"
    ).props(testid("coverage-measured-on"))
    ui.table(columns=columns, rows=rows, row_key="key").props("dense flat wrap-cells").classes(
        "w-full overflow-x-auto"
    ).mark("coverage-table").props(testid("coverage-table"))


def _candidates(card: ModelCard) -> None:
    ui.label("Candidates compared").classes("font-medium mt-2")
    rows = [
        {
            "name": CANDIDATE_NAMES.get(name, name.replace("_", " ")),  # wraps on a phone
            "cv_rmse": _metric("rmse", scores.cv_rmse),
            "r2": _metric("r2", scores.r2),
            "mae": _metric("mae", scores.mae),
            "rmse": _metric("rmse", scores.rmse),
        }
        for name, scores in card.candidates.items()
    ]
    columns = [
        table_column("name", "Model"),
        table_column("cv_rmse", "CV RMSE", align="right"),
        table_column("r2", "R²", align="right"),
        table_column("mae", "MAE", align="right", on_phone=False),  # the gates table has it
        table_column("rmse", "RMSE", align="right"),
    ]
    ui.table(columns=columns, rows=rows).props("dense flat wrap-cells").classes(
        "w-full overflow-x-auto"
    ).mark("candidates-table").props(testid("candidates-table"))


def _plots(card: ModelCard) -> None:
    with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 gap-4 w-full"):
        if card.holdout_sample:
            with ui.card().classes("w-full"):
                ui.label(f"Predicted vs actual ({len(card.holdout_sample)} held-out houses)")
                ui.echart(predicted_vs_actual_options(card.holdout_sample)).classes(
                    "w-full h-72"
                ).mark("pred-vs-actual-chart").props(testid("pred-vs-actual-chart"))
            with ui.card().classes("w-full"):
                ui.label("Residuals (actual − predicted)")
                ui.echart(residuals_options(card.holdout_sample)).classes("w-full h-72").mark(
                    "residuals-chart"
                ).props(testid("residuals-chart"))
        if card.feature_importances:
            with ui.card().classes("w-full md:col-span-2"):
                ui.label("Feature importance")
                ui.echart(importance_options(card.feature_importances, labels=LABELS)).classes(
                    "w-full h-72"
                ).mark("importance-chart").props(testid("importance-chart"))


def _fact(name: str, value: str, marker: str) -> None:
    with ui.column().classes("gap-0 min-w-0"):
        ui.label(name).classes("text-xs text-gray-500")
        ui.label(value).classes("font-medium break-all").mark(marker).props(testid(marker))


def _metric(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if metric == "r2" else money(value)


def _when(iso: str | None) -> str:
    if not iso:
        return "–"
    text = iso.replace("T", " ")[:19]
    return f"{text} UTC" if iso.endswith(("+00:00", "Z")) else text
