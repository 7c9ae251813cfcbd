"""How numbers, times and durations read on screen."""

from __future__ import annotations

from datetime import datetime


def money(value: float) -> str:
    """Dollars, rounded to the dollar: ``$182,400``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}"


def signed_money(value: float) -> str:
    """Dollars with an explicit sign: ``+$12,300`` or ``-$4,100``."""
    return ("+" if value >= 0 else "-") + f"${abs(value):,.0f}"


def duration(seconds: float | None) -> str:
    """A short human duration: ``45 s``, ``3 min 20 s``, ``1 h 5 min``; ``–`` if unknown."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def timestamp(value: datetime | None) -> str:
    """A local, minute-precision time: ``2026-11-26 13:05``; ``–`` if unknown."""
    if value is None:
        return "–"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def byte_size(size: int) -> str:
    """A size in the largest fitting unit: ``500 MB``."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return (
                f"{value:,.0f} {unit}"
                if unit == "bytes"
                else f"{value:,.1f} {unit}".replace(".0 ", " ")
            )
        value /= 1024
    return f"{value:,.1f} GB"
