"""ECharts options for champion vs challenger: both versions' MAE on the same houses over time."""

from __future__ import annotations

import datetime as dt
from typing import Any

CHAMPION_COLOR = "#1d4ed8"
CHALLENGER_COLOR = "#c2410c"


def paired_error_options(
    series: list[dict[str, Any]], *, champion: str, challenger: str
) -> dict[str, Any]:
    """Two lines, one per version: the MAE of each run of paired houses, in report order."""
    labels = [dt.datetime.fromtimestamp(b["at"], dt.UTC).strftime("%m-%d %H:%M") for b in series]
    return {
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": labels, "name": "reported"},
        "yAxis": {"type": "value", "name": "MAE ($)"},
        "series": [
            {
                "type": "line",
                "name": f"champion v{champion}",
                "data": [round(b["champion_mae"]) for b in series],
                "itemStyle": {"color": CHAMPION_COLOR},
            },
            {
                "type": "line",
                "name": f"challenger v{challenger}",
                "data": [round(b["challenger_mae"]) for b in series],
                "itemStyle": {"color": CHALLENGER_COLOR},
            },
        ],
    }
