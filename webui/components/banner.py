"""The error banner: says plainly when the gateway is down or refused, and heals itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from webui.api import GatewayClient, GatewayError, GatewayUnavailableError, Readiness
from webui.components.marks import testid

RecoverCallback = Callable[[], Awaitable[None] | None]

DOWN_MESSAGE = (
    "The prediction service is unreachable. Showing no numbers until it is back; "
    "retrying automatically…"
)
STARTING_MESSAGE = (
    "The prediction service is starting. This page connects to it by itself as soon as it is ready…"
)
_ALERT = ("error_outline", "bg-red-100 text-red-900")
_WAIT = ("hourglass_top", "bg-blue-100 text-blue-900")


class GatewayBanner:
    """A banner under the header, hidden while all is well; polls the gateway while it shows."""

    def __init__(self, api: GatewayClient, *, poll_seconds: float = 3.0) -> None:
        self._api = api
        self._transient = False
        self._callbacks: list[RecoverCallback] = []
        with (
            ui.row()
            .classes("w-full items-center gap-3 px-4 py-3 no-wrap")
            .props('role="alert"')
            .mark("gateway-banner")
            .props(testid("gateway-banner")) as self._box
        ):
            self._icon = ui.icon(_ALERT[0], size="sm").classes("shrink-0")
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
            self._show_readiness("starting" if self._api.starting else "down")
        elif isinstance(exc, GatewayError) and exc.problem.type.endswith("model-unavailable"):
            self._show_readiness("starting")
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

    def _show(self, text: str, *, transient: bool, look: tuple[str, str] = _ALERT) -> None:
        self._text.set_text(text)
        self._transient = transient
        self._icon.name = look[0]
        self._icon.update()
        self._box.classes(remove=f"{_ALERT[1]} {_WAIT[1]}", add=look[1])
        self._box.set_visibility(True)

    def _show_readiness(self, readiness: Readiness) -> None:
        if readiness == "starting":
            self._show(STARTING_MESSAGE, transient=True, look=_WAIT)
        else:
            self._show(DOWN_MESSAGE, transient=True)

    async def _poll(self) -> None:
        readiness = await self._api.readiness()
        if readiness != "ready":
            self._show_readiness(readiness)
            return
        if not self._transient:
            return
        self.clear()
        for callback in self._callbacks:
            result = callback()
            if result is not None:
                await result
