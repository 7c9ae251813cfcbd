"""Predict: one house in, its price with interval, warnings and explanation out."""

from __future__ import annotations

from nicegui import ui

from ml.contract import Prediction
from webui.api import GatewayError, GatewayUnavailableError
from webui.components.charts import contributions_options
from webui.components.comparables import ComparablesPanel
from webui.components.confidence import confidence_grade, grade_scale, half_width_share
from webui.components.formatting import money, signed_money
from webui.components.house_form import LABELS, HouseForm, category_notes
from webui.components.marks import testid
from webui.components.scrolling import bring_into_view
from webui.deps import UIDeps
from webui.layout import Frame, frame

PATH = "/"
COMPARABLES_SHOWN = 5


async def page(deps: UIDeps) -> None:
    """Build the predict page."""
    with frame("Price a house", path=PATH, deps=deps) as shell:
        PredictView(shell)


class PredictView:
    """The form on the left, the model's answer on the right (stacked on phones)."""

    def __init__(self, shell: Frame) -> None:
        self._shell = shell
        self._api = shell.api
        with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 gap-4 w-full items-start"):
            with ui.card().classes("w-full"):
                ui.label("The house").classes("text-lg font-medium")
                self.form = HouseForm()
                self.button = (
                    ui.button("Predict price", icon="sell", on_click=self.predict)
                    .classes("w-full mt-2")
                    .mark("predict-button")
                    .props(testid("predict-button"))
                )
                self.form_message = (
                    ui.label("")
                    .classes("text-red-700")
                    .mark("form-message")
                    .props(testid("form-message"))
                )
                self.card_version = ui.label("").classes("text-sm text-gray-600")
            with (
                ui.card()
                .classes("w-full")
                .mark("result-card")
                .props(testid("result-card")) as self.result_card
            ):
                self._build_result()
        self.result_card.set_visibility(False)
        self._card_loaded = False
        self.form.on_change(self._inputs_changed)
        shell.banner.on_recover(self.load_card)
        ui.timer(0.01, self.load_card, once=True)

    async def load_card(self) -> None:
        """Fetch the model card for the categories the model knows."""
        try:
            card = await self._api.model_card()
        except (GatewayUnavailableError, GatewayError) as exc:
            self._shell.banner.report(exc)
            return
        self.form.set_categories(
            card.categories,
            notes=category_notes(card),
            untrained=card.untrained_categories,
            aliases=card.aliases,
        )
        self.card_version.set_text(f"Serving model version {card.version}")
        self._card_loaded = True

    async def predict(self) -> None:
        """Validate the form, ask the gateway, show its answer (and nothing else)."""
        self.form_message.set_text("")
        if not self._card_loaded:
            # Without the card the form cannot know the categories: a service that is not
            # up yet is said so by the banner, never blamed on the form's own defaults.
            await self.load_card()
            if not self._card_loaded:
                return
        features = self.form.features()
        if features is None:
            self.form_message.set_text("Please fix the highlighted fields.")
            return
        self.button.props("loading")
        try:
            prediction = await self._api.predict(
                features, explain=True, comparables=COMPARABLES_SHOWN
            )
        except GatewayError as exc:
            self._hide_result()
            if exc.status == 422 and exc.problem.errors:
                unplaced = self.form.show_errors([e.model_dump() for e in exc.problem.errors])
                self.form_message.set_text(
                    " ".join(unplaced) or "Please fix the highlighted fields."
                )
            else:
                self._shell.banner.report(exc)
            return
        except GatewayUnavailableError as exc:
            self._hide_result()
            self._shell.banner.report(exc)
            return
        finally:
            self.button.props(remove="loading")
        self._shell.banner.clear()
        self._show(prediction)

    def _build_result(self) -> None:
        ui.label("Estimated price").classes("text-sm text-gray-600")
        self.price = (
            ui.label("")
            .classes("text-4xl font-bold")
            .mark("predicted-price")
            .props(testid("predicted-price"))
        )
        self.interval = (
            ui.label("")
            .classes("text-gray-700")
            .mark("price-interval")
            .props(testid("price-interval"))
        )
        with ui.row().classes("items-center gap-2 no-wrap"):
            self.grade = (
                ui.badge("", color="primary")
                .classes("text-base")
                .mark("confidence-grade")
                .props(testid("confidence-grade"))
            )
            self.grade_text = ui.label("").classes("text-gray-700").mark("confidence-text")
        self.grade_scale = ui.label("").classes("text-xs text-gray-500")
        self.version = (
            ui.label("")
            .classes("text-sm text-gray-600")
            .mark("model-version")
            .props(testid("model-version"))
        )
        self.warnings = (
            ui.column()
            .classes("gap-1 w-full")
            .mark("prediction-warnings")
            .props(testid("prediction-warnings"))
        )
        ui.separator()
        self.explain_title = ui.label("").classes("font-medium")
        self.chart = (
            ui.echart({"series": []})
            .classes("w-full h-64")
            .mark("contributions-chart")
            .props(testid("contributions-chart"))
        )
        self.explain_note = ui.label("").classes("text-sm text-gray-600")
        self.comparables = ComparablesPanel()

    def _show(self, prediction: Prediction) -> None:
        interval = prediction.interval
        self.price.set_text(money(prediction.predicted_price))
        self.interval.set_text(
            f"{interval.level:.0%} prediction interval: "
            f"{money(interval.low)} – {money(interval.high)}"
        )
        share = half_width_share(interval, prediction.predicted_price)
        self.grade.set_text(f"Confidence {confidence_grade(share)}")
        self.grade_text.set_text(f"the interval is ±{share:.0%} of the price")
        self.grade_scale.set_text(f"Grades by the interval's half-width: {grade_scale()}.")
        self.version.set_text(f"Model version {prediction.model_version}")
        self.warnings.clear()
        with self.warnings:
            for warning in prediction.warnings:
                with ui.row().classes("items-center gap-2 text-amber-800 no-wrap"):
                    ui.icon("warning", size="xs")
                    ui.label(warning)
        self._show_contributions(prediction)
        self.comparables.show(prediction.comparables, estimate=prediction.predicted_price)
        self.result_card.set_visibility(True)
        bring_into_view(self.result_card)  # on a phone it lands below the form

    def _show_contributions(self, prediction: Prediction) -> None:
        contributions = prediction.contributions
        if not contributions:
            self.explain_title.set_text("No explanation returned for this prediction.")
            self.chart.set_visibility(False)
            self.explain_note.set_text("")
            return
        self.explain_title.set_text("What moves the price")
        self.chart.options.clear()
        self.chart.options.update(contributions_options(contributions, labels=LABELS))
        self.chart.update()
        self.chart.set_visibility(True)
        top = max(contributions.items(), key=lambda kv: abs(kv[1]))
        baseline = (
            f"Starting from {money(prediction.baseline)} for the average house; "
            if prediction.baseline is not None
            else ""
        )
        self.explain_note.set_text(
            f"{baseline}{LABELS.get(top[0], top[0]).lower()} moves it most "
            f"({signed_money(top[1])})."
        )

    def _hide_result(self) -> None:
        self.result_card.set_visibility(False)
        self.price.set_text("")
        self.interval.set_text("")

    def _inputs_changed(self) -> None:
        # An answer for other inputs is not an answer for these: hide it.
        if self.result_card.visible:
            self._hide_result()
