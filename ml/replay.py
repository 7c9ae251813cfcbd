"""Challenger replay: score the same houses with two model versions and describe the difference.

``compare`` takes the two result frames of ``Predictor.predict_frame`` (champion and
challenger) over the same rows, plus actual prices where known, and returns a JSON-ready
report: how many prices move by more than the threshold, the biggest movers, the shift per
location, and accuracy of both where actuals exist. ``check_limits`` judges a report
against ``PromotionLimits``; ``render_markdown`` writes it for people.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ml.config import PromotionLimits
from ml.contract import FEATURE_COLUMNS
from ml.evaluate import interval_coverage, regression_metrics
from ml.market_drift import MarketDrift, explained_shift

TOP_MOVERS = 10
UNCHANGED = 1e-9  # relative change below which two prices are the same


def compare(
    features: pd.DataFrame,
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    versions: tuple[str, str],
    source: dict[str, Any],
    limits: PromotionLimits,
    actual: pd.Series | None = None,
    drift: MarketDrift | None = None,
) -> dict[str, Any]:
    """The diff report of two versions' predictions for the same rows.

    With a ``drift`` that applies (``ml.market_drift``), the movement limits are judged on
    the challenger's prices divided by the market move it explains (``beyond_drift``).
    """
    both = champion["predicted_price"].notna() & challenger["predicted_price"].notna()
    old = champion.loc[both, "predicted_price"].to_numpy(dtype=np.float64)
    new = challenger.loc[both, "predicted_price"].to_numpy(dtype=np.float64)
    change = (new - old) / old
    rows = features.loc[both].reset_index(drop=True)
    report: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "champion": {"version": versions[0]},
        "challenger": {"version": versions[1]},
        "source": {**source, "rows": len(features), "rows_compared": int(both.sum())},
        "move_threshold": limits.move_threshold,
        "changed_rows": int((np.abs(change) > UNCHANGED).sum()),
        **_movement(rows, change, limits, actual, champion, challenger, both),
        "biggest_movers": _movers(rows, old, new, change, features.index[both.to_numpy()]),
        "drift": None,
        "beyond_drift": None,
    }
    if drift is not None and drift.applied:
        shift = explained_shift(drift, old, new)
        drift = drift.model_copy(update={"explained_change": float(np.expm1(shift))})
        deflated = challenger.copy()
        for column in ("predicted_price", "price_low", "price_high"):
            if column in deflated:
                deflated[column] = deflated[column] / np.exp(shift)
        beyond = (new / np.exp(shift) - old) / old
        report["beyond_drift"] = _movement(rows, beyond, limits, actual, champion, deflated, both)
    if drift is not None:
        report["drift"] = drift.model_dump()
    report["verdict"] = check_limits(report, limits)
    return report


def check_limits(report: dict[str, Any], limits: PromotionLimits) -> dict[str, Any]:
    """Which configured limits the report breaks (``passed`` when none).

    When the report carries a market drift that applies, a report breaking limits as is is
    judged again beyond the drift (``beyond_drift``): the market never makes a replay fail.
    """
    failures = _failures(report, limits)
    as_is: list[str] = []
    beyond = report.get("beyond_drift")
    if failures and beyond:
        as_is, failures = failures, _failures(beyond, limits)
    return {
        "passed": not failures,
        "failures": failures,
        "limits": limits.model_dump(),
        "judged_beyond_drift": bool(as_is),
        "failures_as_is": as_is,
    }


def _failures(section: dict[str, Any], limits: PromotionLimits) -> list[str]:
    """The limits one set of movement figures (as is, or beyond the drift) breaks."""
    failures: list[str] = []
    if section["moved_share"] > limits.max_moved_share:
        failures.append(
            f"{section['moved_share']:.1%} of prices move by more than "
            f"{limits.move_threshold:.0%} (limit {limits.max_moved_share:.0%})"
        )
    if abs(section["mean_change"]) > limits.max_mean_change:
        failures.append(
            f"prices shift by {section['mean_change']:+.1%} on average "
            f"(limit ±{limits.max_mean_change:.0%})"
        )
    for entry in section["by_location"]:
        if entry["rows"] >= limits.min_location_rows and (
            abs(entry["mean_change"]) > limits.max_location_bias
        ):
            failures.append(
                f"{entry['location']}: prices shift by {entry['mean_change']:+.1%} "
                f"(limit ±{limits.max_location_bias:.0%})"
            )
    metrics = section.get("metrics")
    if metrics:
        old, new = metrics["champion"]["rmse"], metrics["challenger"]["rmse"]
        if old > 0 and (new - old) / old > limits.max_rmse_increase:
            failures.append(
                f"RMSE on {metrics['rows']} known prices grows from {old:,.0f} to {new:,.0f} "
                f"(limit +{limits.max_rmse_increase:.0%})"
            )
    return failures


def _movement(
    rows: pd.DataFrame,
    change: np.ndarray,
    limits: PromotionLimits,
    actual: pd.Series | None,
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    both: pd.Series,
) -> dict[str, Any]:
    """The figures the limits judge: movers, mean change, per location, accuracy."""
    moved = np.abs(change) > limits.move_threshold
    errors = None if actual is None else _relative_errors(actual, champion, challenger, both)
    return {
        "moved_rows": int(moved.sum()),
        "moved_share": float(moved.mean()) if len(change) else 0.0,
        "mean_change": float(change.mean()) if len(change) else 0.0,
        "median_abs_change": float(np.median(np.abs(change))) if len(change) else 0.0,
        "by_location": _by_location(rows, change, limits, errors),
        "metrics": None if actual is None else _metrics(actual, champion, challenger),
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for people."""
    champ, chall = report["champion"]["version"], report["challenger"]["version"]
    source = report["source"]
    where = f"job {source['job_id']}" if source.get("job_id") else source.get("kind", "hold-out")
    verdict = report["verdict"]
    lines = [
        f"# Challenger replay: version {chall} vs champion {champ}",
        "",
        f"Re-scored {source['rows_compared']:,} of {source['rows']:,} rows from {where} "
        f"({report['generated_at']}).",
        "",
        f"- Prices moving more than {report['move_threshold']:.0%}: "
        f"**{report['moved_share']:.1%}** ({report['moved_rows']:,} rows)",
        f"- Rows with any change: {report['changed_rows']:,}",
        f"- Mean change: {report['mean_change']:+.2%}; median absolute change: "
        f"{report['median_abs_change']:.2%}",
        *_drift_lines(report),
        f"- Verdict: **{'within limits' if verdict['passed'] else 'BREAKS LIMITS'}**",
        *[f"  - {failure}" for failure in verdict["failures"]],
        "",
    ]
    if report["metrics"]:
        m = report["metrics"]
        lines += [
            f"## Accuracy on {m['rows']:,} known prices",
            "",
            "| version | MAE | RMSE | R² | coverage |",
            "|---|---:|---:|---:|---:|",
            *[
                f"| {name} ({report[name]['version']}) | {v['mae']:,.0f} | {v['rmse']:,.0f} | "
                f"{v['r2']:.3f} | {v['coverage']:.1%} |"
                for name, v in (("champion", m["champion"]), ("challenger", m["challenger"]))
            ],
            "",
        ]
    lines += ["## Biggest movers", ""]
    if report["biggest_movers"]:
        lines += [
            "| row | location | sqft | champion | challenger | change |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {m['row']} | {m['location']} | {m['sqft']:,.0f} | {m['champion']:,.0f} | "
            f"{m['challenger']:,.0f} | {m['change']:+.1%} |"
            for m in report["biggest_movers"]
        ]
    else:
        lines.append("No price changed.")
    lines += ["", "## Shift per location", ""]
    with_bias = any("champion_bias" in e for e in report["by_location"])
    head = "| location | rows | mean change | moved |"
    lines += [
        head + (" champion bias | challenger bias |" if with_bias else ""),
        "|---|---:|---:|---:|" + ("---:|---:|" if with_bias else ""),
    ]
    for e in report["by_location"]:
        line = (
            f"| {e['location']} | {e['rows']} | {e['mean_change']:+.2%} | {e['moved_share']:.0%} |"
        )
        if with_bias:
            line += f" {_pct(e.get('champion_bias'))} | {_pct(e.get('challenger_bias'))} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _drift_lines(report: dict[str, Any]) -> list[str]:
    """The market drift and, when it applied, the movement beyond it and what it excused."""
    if not report.get("drift"):
        return []
    lines = [f"- {MarketDrift.model_validate(report['drift']).describe().capitalize()}"]
    beyond = report.get("beyond_drift")
    if beyond:
        lines.append(
            f"- Beyond the drift: mean change {beyond['mean_change']:+.2%}, "
            f"{beyond['moved_share']:.1%} of prices move more than {report['move_threshold']:.0%}"
        )
    excused = report["verdict"].get("failures_as_is") or []
    if excused:
        lines += ["- Explained by the drift (as is):", *[f"  - {f}" for f in excused]]
    return lines


def _movers(
    rows: pd.DataFrame, old: np.ndarray, new: np.ndarray, change: np.ndarray, index: pd.Index
) -> list[dict[str, Any]]:
    order = np.argsort(-np.abs(change))[:TOP_MOVERS]
    movers = []
    for i in order:
        if abs(change[i]) <= UNCHANGED:
            break
        house = {c: _plain(rows.iloc[i][c]) for c in FEATURE_COLUMNS}
        movers.append(
            {
                "row": int(index[i]) + 1,
                **house,
                "champion": float(old[i]),
                "challenger": float(new[i]),
                "change": float(change[i]),
            }
        )
    return movers


def _by_location(
    rows: pd.DataFrame,
    change: np.ndarray,
    limits: PromotionLimits,
    errors: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    """Mean change per location; with actuals, each version's mean relative error (bias)."""
    frame = pd.DataFrame({"location": rows["location"].astype(str).str.strip(), "change": change})
    if errors is not None:
        frame = frame.join(errors)
    out = []
    for location, group in frame.groupby("location"):
        entry: dict[str, Any] = {
            "location": str(location),
            "rows": len(group),
            "mean_change": float(group["change"].mean()),
            "moved_share": float((group["change"].abs() > limits.move_threshold).mean()),
            "judged": len(group) >= limits.min_location_rows,
        }
        if errors is not None and group["champion_bias"].notna().any():
            entry["champion_bias"] = float(group["champion_bias"].mean())
            entry["challenger_bias"] = float(group["challenger_bias"].mean())
        out.append(entry)
    return sorted(out, key=lambda e: -abs(e["mean_change"]))


def _relative_errors(
    actual: pd.Series, champion: pd.DataFrame, challenger: pd.DataFrame, both: pd.Series
) -> pd.DataFrame:
    truth = actual[both].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "champion_bias": champion.loc[both, "predicted_price"].to_numpy() / truth - 1,
            "challenger_bias": challenger.loc[both, "predicted_price"].to_numpy() / truth - 1,
        }
    )


def _metrics(
    actual: pd.Series, champion: pd.DataFrame, challenger: pd.DataFrame
) -> dict[str, Any] | None:
    known = actual.notna() & champion["predicted_price"].notna()
    known &= challenger["predicted_price"].notna()
    if known.sum() < 2:
        return None
    truth = actual[known].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {"rows": int(known.sum())}
    for name, frame in (("champion", champion), ("challenger", challenger)):
        scores = regression_metrics(truth, frame.loc[known, "predicted_price"].to_numpy())
        scores["coverage"] = interval_coverage(
            truth,
            frame.loc[known, "price_low"].to_numpy(),
            frame.loc[known, "price_high"].to_numpy(),
        )
        scores["bias"] = float((frame.loc[known, "predicted_price"].to_numpy() - truth).mean())
        out[name] = scores
    return out


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
