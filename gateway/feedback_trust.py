"""Whose sale prices move the shared live-accuracy figures, and which prices are held.

The shared windows drive ``live_gate_breached`` (the CloudWatch alarm, and retraining), so
only keys named in ``HPP_FEEDBACK_KEY_NAMES`` feed them, and never for an end user of a
delegate key (``X-On-Behalf-Of``). Everyone else's feedback counts in figures of their
own. A price outside the plausible range, or far outside the prediction's interval, is
held for review and counted nowhere, whoever sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import GatewaySettings
from gateway.monitoring_store import FeedbackPoint
from gateway.security import Caller


@dataclass(frozen=True, slots=True)
class FeedbackPolicy:
    """The trusted key names and what counts as a plausible sale price."""

    trusted_names: frozenset[str]
    price_min: float
    price_max: float
    interval_factor: float

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> FeedbackPolicy:
        """The policy the gateway's settings describe."""
        return cls(
            trusted_names=frozenset(settings.feedback_key_names),
            price_min=settings.feedback_price_min,
            price_max=settings.feedback_price_max,
            interval_factor=settings.feedback_interval_factor,
        )

    def trusts(self, caller: Caller) -> bool:
        """Whether the caller's feedback moves the shared (system-wide) figures."""
        return caller.on_behalf_of is None and caller.name in self.trusted_names

    def hold_reason(self, point: FeedbackPoint) -> str | None:
        """Why a reported price is implausible (held for review), or None to count it."""
        if not self.price_min <= point.actual <= self.price_max:
            return (
                f"{point.actual:,.0f} is outside the plausible range "
                f"{self.price_min:,.0f}–{self.price_max:,.0f}"
            )
        factor = self.interval_factor
        if point.actual < point.low / factor or point.actual > point.high * factor:
            return (
                f"{point.actual:,.0f} is more than {factor:g}× outside the predicted "
                f"interval {point.low:,.0f}–{point.high:,.0f}"
            )
        return None
