"""ECharts option builders: pure functions from model output to chart options."""

from __future__ import annotations

from collections.abc import Sequence

from jobs.models import PriceBin
from ml.card import HoldoutPoint

POSITIVE = "#15803d"
NEGATIVE = "#b91c1c"
NEUTRAL = "#1d4ed8"
# A JavaScript formatter (NiceGUI evaluates ":"-prefixed keys): -12345 -> "-$12k".
_MONEY_AXIS = {
    "hideOverlap": True,
    ":formatter": "v => (v < 0 ? '-' : '') + '$' + (Math.abs(v) >= 1e6"
    " ? (Math.abs(v) / 1e6).toFixed(1) + 'M' : Math.abs(v) >= 1e3"
    " ? Math.round(Math.abs(v) / 1e3) + 'k' : Math.abs(v))",
}


def _axis(name: str) -> dict:
    return {"name": name, "nameLocation": "middle", "nameGap": 28}


def _top_name(name: str) -> dict:
    # A value axis's title above its top end: beside the axis it runs into the tick labels,
    # whose width depends on the numbers (and is tight on a phone).
    return {"name": name, "nameLocation": "end", "nameTextStyle": {"align": "left"}}


def contributions_options(contributions: dict[str, float], *, labels: dict[str, str]) -> dict:
    """Horizontal bars: dollars each feature adds to (green) or takes from (red) the price."""
    items = sorted(contributions.items(), key=lambda kv: abs(kv[1]))
    return {
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "value", "axisLabel": _MONEY_AXIS},
        "yAxis": {"type": "category", "data": [labels.get(k, k) for k, _ in items]},
        "series": [
            {
                "type": "bar",
                "name": "Contribution ($)",
                "data": [
                    {
                        "value": round(v, 2),
                        "itemStyle": {"color": POSITIVE if v >= 0 else NEGATIVE},
                    }
                    for _, v in items
                ],
            }
        ],
    }


def histogram_options(bins: Sequence[PriceBin]) -> dict:
    """A histogram of predicted prices (counts per price band, as the gateway binned them)."""
    counts = [b.count for b in bins]
    names = [f"${b.low / 1000:,.0f}k–${b.high / 1000:,.0f}k" for b in bins]
    return {
        # Room on the right for the last label.
        "grid": {"left": 8, "right": 28, "top": 32, "bottom": 32, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "xAxis": {
            "type": "category",
            "data": names,
            **_axis("Predicted price"),
            # The band's lower edge ("$125k"); the tooltip shows the whole band.
            "axisLabel": {"hideOverlap": True, ":formatter": "v => v.split('–')[0]"},
        },
        "yAxis": {"type": "value", **_top_name("Houses"), "minInterval": 1},
        "series": [
            {
                "type": "bar",
                "data": counts,
                "barCategoryGap": "5%",
                "itemStyle": {"color": NEUTRAL},
            },
        ],
    }


def predicted_vs_actual_options(points: Sequence[HoldoutPoint]) -> dict:
    """Scatter of predicted against actual price, with the line where they agree."""
    pairs = [[p.actual, p.predicted] for p in points]
    top = max((max(a, b) for a, b in pairs), default=1.0)
    return {
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 32, "containLabel": True},
        "tooltip": {"trigger": "item"},
        "xAxis": {"type": "value", **_axis("Actual price"), "axisLabel": _MONEY_AXIS},
        "yAxis": {"type": "value", **_top_name("Predicted price"), "axisLabel": _MONEY_AXIS},
        "series": [
            {
                "type": "scatter",
                "name": "Holdout house",
                "data": pairs,
                "symbolSize": 5,
                "itemStyle": {"color": NEUTRAL, "opacity": 0.6},
            },
            {
                "type": "line",
                "name": "Perfect",
                "data": [[0, 0], [top, top]],
                "symbol": "none",
                "lineStyle": {"type": "dashed", "color": "#6b7280"},
            },
        ],
    }


def residuals_options(points: Sequence[HoldoutPoint]) -> dict:
    """Scatter of residual (actual − predicted) against predicted price."""
    data = [[p.predicted, p.actual - p.predicted] for p in points]
    return {
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 32, "containLabel": True},
        "tooltip": {"trigger": "item"},
        "xAxis": {"type": "value", **_axis("Predicted price"), "axisLabel": _MONEY_AXIS},
        "yAxis": {"type": "value", **_top_name("Actual − predicted"), "axisLabel": _MONEY_AXIS},
        "series": [
            {
                "type": "scatter",
                "name": "Holdout house",
                "data": data,
                "symbolSize": 5,
                "itemStyle": {"color": NEUTRAL, "opacity": 0.6},
                "markLine": {
                    "silent": True,
                    "symbol": "none",
                    "data": [{"yAxis": 0}],
                    "label": {"show": False},
                    "lineStyle": {"color": "#6b7280", "type": "dashed"},
                },
            },
        ],
    }


def importance_options(importances: dict[str, float], *, labels: dict[str, str]) -> dict:
    """Horizontal bars of each feature's share of the model's importance."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    return {
        "grid": {"left": 8, "right": 32, "top": 8, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        # Few, spaced ticks: at phone width five labels of "40%" ran together.
        "xAxis": {
            "type": "value",
            "splitNumber": 3,
            "axisLabel": {"formatter": "{value}%", "hideOverlap": True},
        },
        "yAxis": {"type": "category", "data": [labels.get(k, k) for k, _ in items]},
        "series": [
            {
                "type": "bar",
                "data": [round(100 * v, 1) for _, v in items],
                "itemStyle": {"color": NEUTRAL},
                "label": {"show": True, "position": "right", "formatter": "{c}%"},
            },
        ],
    }


def comparables_options(sales: Sequence[tuple[str, float, float]], *, estimate: float) -> dict:
    """Each comparable's sale price and its price adjusted to the house, against the estimate.

    ``sales`` holds (label, sale price, adjusted price), most similar first.
    """
    return {
        "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [label for label, _, _ in sales]},
        "yAxis": {"type": "value", "axisLabel": _MONEY_AXIS, "scale": True},
        "series": [
            {
                "type": "bar",
                "name": "Sale price",
                "data": [round(sale, 2) for _, sale, _ in sales],
                "itemStyle": {"color": "#9ca3af"},
            },
            {
                "type": "bar",
                "name": "Adjusted to this house",
                "data": [round(adjusted, 2) for _, _, adjusted in sales],
                "itemStyle": {"color": NEUTRAL},
                "markLine": {
                    "symbol": "none",
                    "label": {"formatter": "Estimate", "position": "insideEndTop"},
                    "lineStyle": {"color": POSITIVE, "type": "dashed", "width": 2},
                    "data": [{"yAxis": round(estimate, 2)}],
                },
            },
        ],
    }
