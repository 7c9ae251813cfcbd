"""ECharts options for drift: PSI per feature as bars, the alert threshold as a line."""

from __future__ import annotations

import math
from typing import Any

from ml.monitoring_report import FeatureDrift

CALM = "#1d4ed8"
DRIFTED = "#b91c1c"


def psi_options(
    features: dict[str, FeatureDrift], *, threshold: float, labels: dict[str, str]
) -> dict[str, Any]:
    """Horizontal bars of PSI per feature (red past ``threshold``) with a dashed threshold line."""
    items = sorted(
        ((name, info.psi) for name, info in features.items()),
        key=lambda item: item[1] or 0.0,
    )
    top = max([threshold * 1.5, *(v or 0.0 for _, v in items)])
    return {
        "grid": {"left": 8, "right": 48, "top": 24, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "value", "name": "PSI", "max": math.ceil(top * 10.5) / 10},
        "yAxis": {"type": "category", "data": [labels.get(k, k) for k, _ in items]},
        "series": [
            {
                "type": "bar",
                "name": "PSI",
                "label": {
                    "show": True,
                    "position": "right",
                    ":formatter": "p => p.value.toFixed(3)",
                },
                "data": [
                    {
                        "value": round(v or 0.0, 4),
                        "itemStyle": {"color": DRIFTED if (v or 0.0) > threshold else CALM},
                    }
                    for _, v in items
                ],
                "markLine": {
                    "symbol": "none",
                    "lineStyle": {"type": "dashed", "color": DRIFTED},
                    "label": {"formatter": f"threshold {threshold:g}"},
                    "data": [{"xAxis": threshold}],
                },
            }
        ],
    }
