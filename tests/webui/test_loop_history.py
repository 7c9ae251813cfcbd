"""The loop's tables: the version timeline and the trigger history, from gateway JSON."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing.user import User

from webui.components.loop_history import trigger_history, version_timeline

EVENTS = [
    {
        "seq": 1,
        "at": "2026-12-01T13:42:46.1+00:00",
        "action": "manual",
        "alias": "champion",
        "version": "1",
        "previous": None,
        "reason": "hpp train: every gate passed",
        "by": "person:ops",
        "details": {},
    },
    {
        "seq": 2,
        "at": "2026-12-01T13:58:45.2+00:00",
        "action": "promotion",
        "alias": "champion",
        "version": "2",
        "previous": "1",
        "reason": "challenger better on 150 paired houses",
        "by": "rule:auto_promotion",
        "details": {"test": {"n": 150, "p_value": 2.2e-5}},
    },
]
TRIGGERS = [
    {
        "at": 1_764_597_419.0,
        "kind": "accuracy",
        "action": "finished",
        "reason": "live accuracy of version 1 breaks mae_max",
        "model_version": "2",
        "outcome": {"version": "2", "challenger": True, "rows_by_source": {"feedback": 700}},
    }
]


async def test_the_timeline_shows_newest_first_with_why_and_who(user: User) -> None:
    @ui.page("/timeline")
    def page() -> None:
        version_timeline(EVENTS)
        trigger_history(TRIGGERS)

    await user.open("/timeline")
    table = user.find(marker="timeline-table").elements.pop()
    assert isinstance(table, ui.table)
    assert [row["version"] for row in table.rows] == ["2 (was 1)", "1"]
    assert table.rows[0]["what"] == "promoted to champion (champion)"
    assert "paired n=150, p=2.2e-05" in table.rows[0]["why"]
    assert table.rows[0]["by"] == "rule:auto_promotion"
    triggers = user.find(marker="trigger-table").elements.pop()
    assert isinstance(triggers, ui.table)
    assert triggers.rows[0]["outcome"] == "version 2: challenger; rows feedback 700"


async def test_a_retrained_version_shows_its_cv_estimate_with_the_interval(user: User) -> None:
    challenger = {
        "seq": 3,
        "at": "2026-12-01T14:10:00.0+00:00",
        "action": "challenger",
        "alias": "challenger",
        "version": "3",
        "previous": None,
        "reason": "retrained (schedule); every gate passed, relative gate passed",
        "by": "rule:schedule-trigger",
        "details": {
            "estimate": {
                "level": 0.9,
                "metrics": {"rmse": {"mean": 28_890.0, "low": 27_239.0, "high": 30_540.0}},
            },
            "relative": {"status": "passed", "champion_version": "2"},
        },
    }

    @ui.page("/timeline-cv")
    def page() -> None:
        version_timeline([*EVENTS, challenger])

    await user.open("/timeline-cv")
    table = user.find(marker="timeline-table").elements.pop()
    assert isinstance(table, ui.table)
    assert table.rows[0]["version"] == "3"
    assert "(CV RMSE 28,890, 90% interval 27,239 to 30,540)" in table.rows[0]["why"]


async def test_the_timeline_shows_the_market_drift_a_promotion_was_judged_beyond(
    user: User,
) -> None:
    drift = {
        "n": 80,
        "change": 0.148,
        "low": 0.131,
        "high": 0.163,
        "level": 0.95,
        "significant": True,
        "enabled": True,
        "applied": True,
        "explained_change": 0.146,
    }
    promoted = {**EVENTS[1], "details": {"test": {"n": 80, "p_value": 1e-9}, "drift": drift}}

    @ui.page("/timeline-drift")
    def page() -> None:
        version_timeline([promoted])

    await user.open("/timeline-drift")
    table = user.find(marker="timeline-table").elements.pop()
    assert isinstance(table, ui.table)
    why = table.rows[0]["why"]
    assert "market drift +14.8% on 80 sale prices (95% interval +13.1% to +16.3%)" in why
    assert "replay limits judged beyond a +14.6% shift" in why
