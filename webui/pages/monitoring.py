"""Monitoring: live accuracy from real sale prices vs the gates, coverage, drift, challenger."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from ml.monitoring_report import (
    ChallengerReport,
    DriftReport,
    GateVerdict,
    JobDrift,
    LiveMetrics,
    MonitoringReport,
    VersionQuality,
)
from webui.api import GatewayError, GatewayUnavailableError
from webui.components.drift_chart import psi_options
from webui.components.formatting import money
from webui.components.house_form import LABELS
from webui.components.loop_history import drift_text, trigger_history
from webui.components.marks import testid
from webui.components.paired_chart import paired_error_options
from webui.deps import UIDeps
from webui.layout import Frame, frame

PATH = "/monitoring"
GATES: tuple[tuple[str, str, str, bool], ...] = (
    ("r2", "r2_min", "R²", True),
    ("mae", "mae_max", "MAE", False),
    ("rmse", "rmse_max", "RMSE", False),
)
STATUS = {
    "ok": ("✔ within gate", "positive"),
    "breached": ("✘ breached", "negative"),
    "insufficient": ("… too few prices", "grey"),
    "unknown": ("–", "grey"),
}


async def page(deps: UIDeps) -> None:
    """Build the monitoring page."""
    with frame("Monitoring", path=PATH, deps=deps) as shell:
        MonitoringView(shell)


class MonitoringView:
    """Loads the live picture from the gateway and lays it out; refresh on demand."""

    def __init__(self, shell: Frame) -> None:
        self._shell = shell
        with ui.row().classes("items-center gap-2"):
            ui.label("Live quality of the serving model, from reported sale prices.").classes(
                "text-gray-700"
            )
            ui.button("Refresh", icon="refresh", on_click=self.load).props("flat dense").mark(
                "monitoring-refresh"
            )
        self.body = ui.column().classes("w-full gap-4").mark("monitoring-body")
        self.body.props(testid("monitoring-body"))
        with self.body:
            ui.label("Loading…").classes("text-gray-600")
        shell.banner.on_recover(self.load)
        ui.timer(0.01, self.load, once=True)

    async def load(self) -> None:
        """Fetch the monitoring snapshot and show it."""
        try:
            data = await self._shell.api.monitoring()
        except (GatewayError, GatewayUnavailableError) as exc:
            self._shell.banner.report(exc)
            self.body.clear()
            with self.body:
                ui.label("Monitoring is not available right now.").classes("text-gray-600")
            return
        job, filename = await self._latest_job_drift() or (None, None)
        self.body.clear()
        with self.body:
            _accuracy(data)
            _own_accuracy(data)
            _drift(data)
            _job_drift(job, filename)
            _experiment(data.experiment)
            _challenger(data.challenger)
            trigger_history([t.model_dump() for t in data.triggers])

    async def _latest_job_drift(self) -> tuple[JobDrift, str | None] | None:
        """The drift of the caller's newest succeeded job, if any (None when unavailable)."""
        api = self._shell.api
        try:
            jobs = await api.list_jobs(limit=20)
            done = next((j for j in jobs if j.status == "succeeded"), None)
            if done is None:
                return None
            return await api.job_drift(done.id), done.filename
        except (GatewayError, GatewayUnavailableError):
            return None


def _accuracy(data: MonitoringReport) -> None:
    with ui.card().classes("w-full"):
        ui.label("Live accuracy vs the training gates").classes("text-lg font-medium")
        _scope(
            "All users: sale prices reported by the operators' trusted keys; "
            "this is what the alarms watch.",
            mark="accuracy-scope",
        )
        held = data.held_feedback
        if held:
            ui.label(
                f"{held:,} implausible reported prices are held for review and not counted."
            ).classes("text-sm text-amber-900").mark("held-feedback").props(testid("held-feedback"))
        if not data.accuracy:
            ui.label("No trusted sale prices reported yet.").classes("text-gray-600")
        _versions(data.accuracy, current=data.model_version, prefix="live")


def _own_accuracy(data: MonitoringReport) -> None:
    """The prices this browser reported: counted for it alone, never in the figures above."""
    own = data.own_accuracy
    if not own:
        return
    with ui.card().classes("w-full").mark("own-accuracy-card").props(testid("own-accuracy-card")):
        ui.label("Your reported sale prices vs the training gates").classes("text-lg font-medium")
        _scope(
            "Only you: prices reported from this browser count here, not in the figures above.",
            mark="own-accuracy-scope",
        )
        _versions(own, current=data.model_version, prefix="own")


def _scope(text: str, *, mark: str) -> None:
    ui.label(text).classes("text-sm text-gray-600").mark(mark).props(testid(mark))


def _versions(qualities: list[VersionQuality], *, current: str | None, prefix: str) -> None:
    """Each version's metrics against its gates (marks start with ``prefix``: live or own)."""
    status_mark = "gate-status" if prefix == "live" else f"{prefix}-gate-status"
    for quality in qualities:
        version = quality.model_version
        metrics, verdict = quality.metrics, quality.gates
        label, color = STATUS[verdict.status]
        with ui.row().classes("items-center gap-2 mt-2"):
            serving = " (serving)" if version == current else ""
            ui.label(f"Version {version}{serving}").classes("font-medium")
            ui.badge(label, color=color).mark(f"{status_mark}-{version}").props(
                testid(f"{status_mark}-{version}")
            )
            ui.label(f"{metrics.n:,} prices in the window").classes("text-sm text-gray-600")
        ui.table(columns=_columns(), rows=_rows(metrics, verdict)).props("dense flat").classes(
            "w-full"
        ).mark(f"{prefix}-metrics-{version}").props(testid(f"{prefix}-metrics-{version}"))
        _coverage(metrics, quality, mark=f"{prefix}-coverage")


def _columns() -> list[dict[str, str]]:
    return [
        {"name": k, "label": label, "field": k, "align": "left"}
        for k, label in (
            ("metric", "Metric"),
            ("live", "Live"),
            ("gate", "Gate"),
            ("result", "Result"),
        )
    ]


def _rows(metrics: LiveMetrics, verdict: GateVerdict) -> list[dict[str, str]]:
    rows = []
    for metric, gate_key, name, higher in GATES:
        gate = verdict.gates.get(gate_key)
        rows.append(
            {
                "metric": name,
                "live": _value(metric, getattr(metrics, metric)),
                "gate": ("≥ " if higher else "≤ ") + _value(metric, gate.threshold)
                if gate is not None
                else "–",
                "result": STATUS[gate.status if gate is not None else "unknown"][0],
            }
        )
    return rows


def _coverage(metrics: LiveMetrics, quality: VersionQuality, *, mark: str) -> None:
    coverage, level = metrics.coverage, quality.interval_level
    if coverage is None:
        return
    text = f"Interval coverage: {coverage:.1%} of sale prices fell inside their interval"
    if level is not None:
        text += f" (nominal {level:.0%})"
    low = quality.coverage_status == "low"
    ui.label(text + (" — too low" if low else "") + ".").classes(
        "text-sm " + ("text-red-800" if low else "text-gray-700")
    ).mark(mark).props(testid(mark))
    bias = metrics.bias
    if bias is not None:
        word = "over" if bias > 0 else "under"
        ui.label(f"On average the model {word}-predicts by {money(abs(bias))}.").classes(
            "text-sm text-gray-700"
        )


def _drift(data: MonitoringReport) -> None:
    drift = data.drift
    with ui.card().classes("w-full"):
        ui.label("Drift of live traffic vs training (PSI per feature)").classes(
            "text-lg font-medium"
        )
        _scope("All users: the recent houses priced by every key.", mark="drift-scope")
        if not data.drift_available:
            ui.label("The serving model has no training profile: retrain to enable drift.").classes(
                "text-gray-600"
            )
            return
        if not drift or not drift.rows:
            ui.label("No live predictions in the window yet.").classes("text-gray-600")
            return
        _drift_report(drift, subject=f"{drift.rows:,} recent houses", unit="houses", mark="drift")


def _job_drift(job: JobDrift | None, filename: str | None) -> None:
    with ui.card().classes("w-full").mark("job-drift-card").props(testid("job-drift-card")):
        ui.label("Drift of the latest batch job").classes("text-lg font-medium")
        _scope("Only you: the newest finished job of this browser.", mark="job-drift-scope")
        drift = job.drift if job else None
        if not job or not drift:
            ui.label("No finished job with a drift report yet.").classes("text-gray-600")
            return
        name = filename or job.job_id
        _drift_report(drift, subject=f"{name}: {drift.rows:,} rows", unit="rows", mark="job-drift")


def _drift_report(drift: DriftReport, *, subject: str, unit: str, mark: str) -> None:
    """A drift summary line and its PSI chart (or why there is no verdict yet)."""
    if not drift.enough_rows:
        ui.label(f"{subject}; drift is judged from {drift.min_rows:,} {unit} on.").classes(
            "text-gray-600"
        ).mark(f"{mark}-summary").props(testid(f"{mark}-summary"))
        return
    drifted = drift.drifted
    names = ", ".join(LABELS.get(f, f) for f in drifted)
    ui.label(
        f"{subject}; "
        + (f"shifted: {names}" if drifted else "no feature past the threshold")
        + f" (PSI > {drift.threshold:g})."
    ).classes("text-sm " + ("text-red-800" if drifted else "text-gray-700")).mark(
        f"{mark}-summary"
    ).props(testid(f"{mark}-summary"))
    ui.echart(psi_options(drift.features, threshold=drift.threshold, labels=LABELS)).classes(
        "w-full h-64"
    ).mark(f"{mark}-chart").props(testid(f"{mark}-chart"))


MODES = {
    "shadow": "shadow: the champion answers, the challenger prices the same houses unseen",
    "ab": "A/B: a share of users is answered by the challenger",
    "off": "off",
}


def _experiment(trial: dict[str, Any] | None) -> None:
    """Champion vs challenger on the same houses: per-arm figures and paired errors."""
    if not trial or not trial.get("challenger_version"):
        return
    with ui.card().classes("w-full").mark("experiment-card").props(testid("experiment-card")):
        champion, challenger = trial["champion_version"], trial["challenger_version"]
        ui.label(f"Champion v{champion} vs challenger v{challenger} on live traffic").classes(
            "text-lg font-medium"
        )
        mode = MODES.get(trial["mode"], trial["mode"])
        if trial["mode"] == "ab":
            mode += f" ({trial['ab_challenger_weight']:.0%})"
        _scope(f"All users; {mode}.", mark="experiment-scope")
        for arm in trial.get("arms", []):
            live = arm.get("live") or {}
            mae = f", live MAE {money(live['mae'])}" if live.get("mae") is not None else ""
            ui.label(
                f"{arm['arm'].capitalize()} v{arm['model_version']}: answered "
                f"{arm['served']:,} houses{mae}"
            ).classes("text-sm text-gray-700")
        paired = trial.get("paired") or {}
        if not paired.get("n"):
            ui.label("No sale prices yet for houses both versions priced.").classes(
                "text-gray-600"
            ).mark("paired-summary")
            return
        difference = paired["mean_paired_difference"]
        word = "closer" if difference < 0 else "further"
        ui.label(
            f"On the same {paired['n']:,} houses: champion MAE {money(paired['champion_mae'])}, "
            f"challenger MAE {money(paired['challenger_mae'])}; the challenger is on average "
            f"{money(abs(difference))} {word} to the sale price."
        ).classes("text-sm").mark("paired-summary").props(testid("paired-summary"))
        ui.echart(
            paired_error_options(
                trial.get("paired_series") or [], champion=champion, challenger=challenger
            )
        ).classes("w-full h-64").mark("paired-chart").props(testid("paired-chart"))


def _challenger(report: ChallengerReport | None) -> None:
    with ui.card().classes("w-full").mark("challenger-card").props(testid("challenger-card")):
        ui.label("Latest challenger replay").classes("text-lg font-medium")
        if not report:
            ui.markdown("No replay yet: run `hpp compare --challenger VERSION`.").classes(
                "text-gray-600"
            ).mark("challenger-none")
            return
        verdict = report.verdict
        with ui.row().classes("items-center gap-2"):
            ui.label(
                f"Version {report.challenger.version} vs champion "
                f"{report.champion.version} on {report.source.kind or '?'} "
                f"({report.source.rows_compared:,} rows, {report.generated_at[:16]})"
            )
            ui.badge(
                "within limits" if verdict.passed else "breaks limits",
                color="positive" if verdict.passed else "negative",
            ).mark("challenger-verdict").props(testid("challenger-verdict"))
        ui.label(
            f"{report.moved_share:.1%} of prices move more than {report.move_threshold:.0%}; "
            f"mean change {report.mean_change:+.2%}."
        ).classes("text-sm text-gray-700")
        if report.drift is not None:
            ui.label(drift_text(report.drift.model_dump(), verdict.failures_as_is)).classes(
                "text-sm text-gray-700"
            ).mark("challenger-drift").props(testid("challenger-drift"))
        for failure in verdict.failures:
            ui.label(failure).classes("text-sm text-red-800")
        movers = report.biggest_movers
        if movers:
            rows = [
                {
                    "row": m.row,
                    "location": m.location or "–",
                    "champion": money(m.champion),
                    "challenger": money(m.challenger),
                    "change": f"{m.change:+.1%}",
                }
                for m in movers[:5]
            ]
            columns = [
                {"name": k, "label": k.capitalize(), "field": k, "align": "left"}
                for k in ("row", "location", "champion", "challenger", "change")
            ]
            ui.table(columns=columns, rows=rows).props("dense flat").classes(
                "w-full overflow-x-auto"
            ).mark("movers-table")


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if metric == "r2" else money(value)
