"""The comparable sales behind an estimate: a chart and a table."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from ml.contract import Comparables, ComparableSale
from webui.components.charts import comparables_options
from webui.components.formatting import money
from webui.components.marks import testid

# Three columns so a phone shows the whole row: the sale with how it differs beneath it,
# and its sale price with the adjusted price beneath that.
COLUMNS: list[dict[str, Any]] = [
    {"name": "rank", "label": "#", "field": "rank", "align": "left"},
    {"name": "sale", "label": "Sale (compared with this house)", "field": "sale", "align": "left"},
    {"name": "prices", "label": "Sale price / adjusted", "field": "price", "align": "right"},
]
SALE_CELL = r"""
<q-td :props="props">
  <div>{{ props.row.sale }}</div>
  <div class="text-gray-600 text-xs">{{ props.row.differs }}</div>
</q-td>
"""
PRICES_CELL = r"""
<q-td :props="props">
  <div>{{ props.row.price }}</div>
  <div class="text-blue-800 font-medium">{{ props.row.adjusted }}</div>
</q-td>
"""


class ComparablesPanel:
    """Comparable training sales: their median adjusted price, a chart and a table."""

    def __init__(self) -> None:
        with (
            ui.column()
            .classes("w-full gap-2")
            .mark("comparables")
            .props(testid("comparables")) as self.container
        ):
            ui.separator()
            ui.label("Comparable sales").classes("font-medium")
            self.summary = (
                ui.label("")
                .classes("text-sm text-gray-700")
                .mark("comparables-median")
                .props(testid("comparables-median"))
            )
            self.chart = ui.echart({"series": []}).classes("w-full h-56")
            self.chart.mark("comparables-chart").props(testid("comparables-chart"))
            self.table = (
                ui.table(columns=COLUMNS, rows=[], row_key="rank")
                .classes("w-full")
                .props("dense flat wrap-cells")
                .mark("comparables-table")
                .props(testid("comparables-table"))
            )
            self.table.add_slot("body-cell-sale", SALE_CELL)
            self.table.add_slot("body-cell-prices", PRICES_CELL)
            self.note = ui.label("").classes("text-xs text-gray-600")

    def show(self, comparables: Comparables | None, *, estimate: float) -> None:
        """Show these comparables (hide the panel when there are none)."""
        if comparables is None or not comparables.sales:
            self.container.set_visibility(False)
            return
        sales = comparables.sales
        self.summary.set_text(
            f"Median of {len(sales)} sales adjusted to this house: "
            f"{money(comparables.median_adjusted_price)} (estimate {money(estimate)})"
        )
        labels = [f"#{i}" for i in range(1, len(sales) + 1)]
        self.chart.options.clear()
        self.chart.options.update(
            comparables_options(
                [(lb, s.sale_price, s.adjusted_price) for lb, s in zip(labels, sales, strict=True)],
                estimate=estimate,
            )
        )
        self.chart.update()
        self.table.rows = [_row(i, sale) for i, sale in enumerate(sales, start=1)]
        self.table.update()
        self.note.set_text(
            f"The most similar of the {comparables.pool_rows:,} sales this model version was "
            "trained on (same neighbourhood first). Adjusted = sale price × the model's price "
            "for this house ÷ its price for the sale."
        )
        self.container.set_visibility(True)


def _row(rank: int, sale: ComparableSale) -> dict[str, Any]:
    house = sale.house
    return {
        "rank": rank,
        "sale": f"{house.location}, {house.sqft:,.0f} sqft, {house.bedrooms} bd / "
        f"{house.bathrooms:g} ba, built {house.year_built}, {house.condition}",
        "differs": ", ".join(sale.differences.summary) or "the same inputs",
        "price": money(sale.sale_price),
        "adjusted": money(sale.adjusted_price),
    }
