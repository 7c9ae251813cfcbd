"""Table columns that fit a phone: the minor ones are hidden below 600 px."""

from __future__ import annotations


def table_column(
    name: str, label: str | None = None, *, align: str = "left", on_phone: bool = True
) -> dict[str, str]:
    """A Quasar table column; ``on_phone=False`` hides it on phones (Quasar's ``gt-xs``)."""
    column = {"name": name, "label": label or name, "field": name, "align": align}
    if not on_phone:
        column |= {"classes": "gt-xs", "headerClasses": "gt-xs"}
    return column
