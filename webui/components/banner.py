"""The error banner: says plainly when the gateway is down or refused, and heals itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from webui.api import GatewayClient, GatewayError, GatewayUnavailableError
from webui.components.marks import testid

RecoverCallback = Callable[[], Awaitable[None] | None]

DOWN_MESSAGE = (
    "The prediction service is unreachable. Showing no numbers until it is back; "
    "retrying automatically…"
)


class GatewayBanner:
    """A banner under the header, hidden while all is well; polls the gateway while it shows."""

    def __init__(self, api: GatewayClient, *, poll_seconds: float = 3.0) -> None:
        self._api = api
        self._transient = False
        self._callbacks: list[RecoverCallback] = []
        with (
            ui.row()
            .classes("w-full items-center gap-3 px-4 py-3 bg-red-100 text-red-900 no-wrap")
            .props('role="alert"')
            .mark("gateway-banner")
            .props(testid("gateway-banner")) as self._box
        ):
            ui.icon("error_outline", size="sm").classes("shrink-0")
            self._text = (
                ui.label("")
                .classes("grow")
                .mark("gateway-banner-text")
                .props(testid("gateway-banner-text"))
            )
            ui.button(icon="close", on_click=self.clear).props(
                'flat dense round aria-label="Dismiss"'
            ).classes("shrink-0")
        self._box.set_visibility(False)
        ui.timer(poll_seconds, self._poll)

    @property
    def visible(self) -> bool:
        """Whether the banner is showing."""
        return self._box.visible

    @property
    def message(self) -> str:
        """The banner's current text."""
        return self._text.text

    def on_recover(self, callback: RecoverCallback) -> None:
        """Run ``callback`` when the gateway answers again after an outage."""
        self._callbacks.append(callback)

    def report(self, exc: Exception) -> None:
        """Show what went wrong; outages and server errors are retried by the poller."""
        if isinstance(exc, GatewayUnavailableError):
            self._show(DOWN_MESSAGE, transient=True)
        elif isinstance(exc, GatewayError):
            problem = exc.problem
            text = problem.title
            if problem.detail and problem.detail != problem.title:
                text = f"{text}: {problem.detail}"
            status = problem.status or 0
            self._show(
                f"The gateway answered {status or 'an error'}. {text}", transient=status >= 500
            )
        else:
            self._show(f"Unexpected error: {exc}", transient=False)

    def clear(self) -> None:
        """Hide the banner."""
        self._transient = False
        self._box.set_visibility(False)

    def _show(self, text: str, *, transient: bool) -> None:
        self._text.set_text(text)
        self._transient = transient
        self._box.set_visibility(True)

    async def _poll(self) -> None:
        healthy = await self._api.health()
        if not healthy:
            self._show(DOWN_MESSAGE, transient=True)
            return
        if not self._transient:
            return
        self.clear()
        for callback in self._callbacks:
            result = callback()
            if result is not None:
                await result
