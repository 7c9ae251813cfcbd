"""The loop on screen: the version timeline (Model page) and the trigger history (Monitoring).

Both are tables of what the gateway returns (``GET /v1/model/history``, the ``triggers`` of
``GET /v1/monitoring``), newest first, each row saying what happened and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import ui

from webui.components.marks import testid

ACTION_LABELS = {
    "challenger": "became challenger",
    "promotion": "promoted to champion",
    "rollback": "rolled back to",
    "manual": "moved by hand",
    "rejected": "rejected by the gates",
}


def version_timeline(events: list[dict[str, Any]]) -> None:
    """Every alias move and rejected version, newest first, with gates and test results."""
    with ui.card().classes("w-full").mark("version-timeline").props(testid("version-timeline")):
        ui.label("Version timeline").classes("text-lg font-medium")
        if not events:
            ui.label("No alias moves recorded yet.").classes("text-gray-600")
            return
        rows = [_timeline_row(e) for e in reversed(events)]
        columns = [
            {"name": k, "label": label, "field": k, "align": "left"}
            for k, label in (
                ("when", "When"),
                ("what", "What"),
                ("version", "Version"),
                ("why", "Why"),
                ("by", "By"),
            )
        ]
        ui.table(columns=columns, rows=rows, row_key="seq").props("dense flat wrap-cells").classes(
            "w-full overflow-x-auto"
        ).mark("timeline-table")


def trigger_history(events: list[dict[str, Any]]) -> None:
    """Retrain requests, starts and outcomes, newest first."""
    with ui.card().classes("w-full").mark("trigger-history").props(testid("trigger-history")):
        ui.label("Retraining triggers").classes("text-lg font-medium")
        if not events:
            ui.label("No retrain requested yet.").classes("text-gray-600")
            return
        rows = [
            {
                "i": i,
                "when": _when(e["at"]),
                "kind": e["kind"],
                "action": e["action"].replace("_", " "),
                "version": e.get("model_version") or "–",
                "reason": e["reason"],
                "outcome": _outcome(e.get("outcome")),
            }
            for i, e in enumerate(events)
        ]
        columns = [
            {"name": k, "label": k.capitalize(), "field": k, "align": "left"}
            for k in ("when", "kind", "action", "version", "reason", "outcome")
        ]
        ui.table(columns=columns, rows=rows, row_key="i").props("dense flat wrap-cells").classes(
            "w-full overflow-x-auto"
        ).mark("trigger-table")


def _timeline_row(event: dict[str, Any]) -> dict[str, Any]:
    previous = f" (was {event['previous']})" if event.get("previous") else ""
    details = event.get("details") or {}
    test = details.get("test") or {}
    why = event["reason"]
    if test.get("p_value") is not None and "p=" not in why:
        why += f" (paired n={test['n']}, p={test['p_value']:.3g})"
    rmse = ((details.get("estimate") or {}).get("metrics") or {}).get("rmse")
    if rmse:
        level = details["estimate"].get("level", 0.9)
        why += (
            f" (CV RMSE {rmse['mean']:,.0f}, {level:.0%} interval "
            f"{rmse['low']:,.0f} to {rmse['high']:,.0f})"
        )
    if details.get("drift") and "market drift" not in why:
        why += f" ({drift_text(details['drift'])})"
    return {
        "seq": event["seq"],
        "when": event["at"][:19].replace("T", " "),
        "what": f"{ACTION_LABELS.get(event['action'], event['action'])}"
        + (f" ({event['alias']})" if event.get("alias") else ""),
        "version": f"{event['version']}{previous}",
        "why": why,
        "by": event["by"],
    }


def drift_text(drift: dict[str, Any], excused: list[str] | None = None) -> str:
    """The market drift a promotion decision or replay measured, and whether it applied."""
    if drift.get("change") is None:
        return f"market drift not measured ({drift.get('n', 0)} sale prices)"
    text = (
        f"market drift {drift['change']:+.1%} on {drift['n']} sale prices "
        f"({drift['level']:.0%} interval {drift['low']:+.1%} to {drift['high']:+.1%}); "
    )
    if drift.get("applied"):
        explained = drift.get("explained_change")
        text += "replay limits judged beyond " + (
            f"a {explained:+.1%} shift" if explained is not None else "it"
        )
    else:
        text += "not applied: replay judged as is"
    if excused:
        text += "; explained: " + "; ".join(excused)
    return text


def _outcome(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    verdict = "challenger" if outcome.get("challenger") else "gates failed"
    rows = outcome.get("rows_by_source") or {}
    return f"version {outcome.get('version')}: {verdict}; rows " + ", ".join(
        f"{k} {v:,}" for k, v in rows.items()
    )


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
