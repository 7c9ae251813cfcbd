"""The house form, built from the contract (ranges, steps) and the model card (categories)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from ml.card import ModelCard
from ml.categories import (
    RARE_CATEGORY_COUNT,
    AliasTable,
    CategoryMatcher,
    MatchKind,
    load_aliases,
    near_miss_message,
)
from ml.contract import (
    CATEGORY_COLUMNS,
    FEATURE_COLUMNS,
    HouseFeatures,
    error_message,
    max_year_built,
)
from webui.components.marks import testid

LABELS: dict[str, str] = {
    "sqft": "Living area",
    "bedrooms": "Bedrooms",
    "bathrooms": "Bathrooms",
    "location": "Location (neighbourhood)",
    "year_built": "Year built",
    "condition": "Overall condition",
}
UNITS: dict[str, str] = {"sqft": "sq ft"}
HINTS: dict[str, str] = {"bathrooms": "Half baths count 0.5"}
CATEGORY_HINT = "Type to search; North_Ames or NAmes work too"


@dataclass(frozen=True)
class NumberSpec:
    """One numeric input as the contract bounds it."""

    name: str
    label: str
    minimum: float | None
    maximum: float | None
    step: float
    integer: bool
    unit: str | None
    description: str | None


def example_house() -> dict[str, Any]:
    """The contract's own example house (valid by construction)."""
    extra = HouseFeatures.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
        return dict(examples[0])
    return {}


def number_specs() -> list[NumberSpec]:
    """The numeric fields of ``HouseFeatures`` with their bounds from its JSON schema."""
    properties = HouseFeatures.model_json_schema()["properties"]
    specs = []
    for name in FEATURE_COLUMNS:
        if name in CATEGORY_COLUMNS:
            continue
        prop = properties[name]
        integer = prop.get("type") == "integer"
        maximum = prop.get("maximum")
        if name == "year_built" and maximum is None:
            maximum = max_year_built()
        specs.append(
            NumberSpec(
                name=name,
                label=LABELS.get(name, name),
                minimum=prop.get("minimum"),
                maximum=maximum,
                step=prop.get("multipleOf") or 1,
                integer=integer,
                unit=UNITS.get(name),
                description=prop.get("description"),
            )
        )
    return specs


def field_error(name: str, value: Any) -> str | None:
    """The contract's complaint about one field's value, or ``None`` if it is fine."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "Required"
    candidate = example_house() | {name: value}
    try:
        HouseFeatures.model_validate(candidate)
    except ValidationError as exc:
        for error in exc.errors():
            if error["loc"] and error["loc"][0] == name:
                return _humane(error)
    return None


def _humane(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    if kind == "greater_than_equal":
        return f"Must be at least {_number(ctx.get('ge'))}"
    if kind == "less_than_equal":
        return f"Must be at most {_number(ctx.get('le'))}"
    if kind == "multiple_of":
        return f"Must be in steps of {_number(ctx.get('multiple_of'))}"
    if kind.startswith("int_"):
        return "Must be a whole number"
    return error_message(error)


class HouseForm:
    """Labelled inputs for one house with inline validation; ``features()`` builds the model."""

    def __init__(self) -> None:
        example = example_house()
        self.inputs: dict[str, Any] = {}
        # Reads what is typed as the model's names (North_Ames, NAmes -> North Ames), as the
        # gateway does; the packaged table until the model card brings its own.
        self.matcher = CategoryMatcher({}, load_aliases())
        with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-2 gap-x-4 gap-y-1 w-full"):
            for spec in number_specs():
                self.inputs[spec.name] = self._number(spec, example.get(spec.name))
            for name in CATEGORY_COLUMNS:
                self.inputs[name] = self._select(name, example.get(name))

    def set_categories(
        self,
        categories: dict[str, list[str]],
        *,
        notes: dict[str, dict[str, str]] | None = None,
        untrained: dict[str, dict[str, int]] | None = None,
        aliases: dict[str, dict[str, list[str]]] | None = None,
    ) -> None:
        """Offer the categories the serving model was trained on (``notes`` label the others)
        and read other spellings as they are (``aliases``: the card's table)."""
        example = example_house()
        names = {c: [*v, *(untrained or {}).get(c, {})] for c, v in categories.items()}
        table = AliasTable(columns=aliases) if aliases else load_aliases()
        self.matcher = CategoryMatcher(names, table, trained=categories)
        for name in CATEGORY_COLUMNS:
            self.inputs[name].validation = self._category_validator(name)
            noted = (notes or {}).get(name, {})
            options = {value: noted.get(value, value) for value in categories.get(name, [])}
            options |= {
                value: label for value, label in sorted(noted.items()) if value not in options
            }
            select = self.inputs[name]
            select.set_options(options)
            if select.value not in options:
                preferred = example.get(name)
                select.set_value(preferred if preferred in categories.get(name, []) else None)

    def validate(self) -> bool:
        """Validate every input, showing each message beside its field."""
        return all([element.validate() for element in self.inputs.values()])

    def features(self) -> HouseFeatures | None:
        """The house described by the inputs, or ``None`` (messages shown) if invalid."""
        if not self.validate():
            return None
        values = {name: element.value for name, element in self.inputs.items()}
        for name in CATEGORY_COLUMNS:
            values[name] = self.canonical(name, values[name])
        for spec in number_specs():
            if spec.integer and values[spec.name] is not None:
                values[spec.name] = int(values[spec.name])
        try:
            return HouseFeatures.model_validate(values)
        except ValidationError as exc:
            self.show_errors(
                [{"field": str(e["loc"][0]), "message": _humane(e)} for e in exc.errors()]
            )
            return None

    def show_errors(self, errors: list[dict[str, Any]]) -> list[str]:
        """Put the gateway's per-field messages beside their fields; return the unplaced ones."""
        unplaced = []
        for error in errors:
            field = str(error.get("field") or "").split(".")[-1]
            element = self.inputs.get(field)
            if element is None:
                unplaced.append(str(error.get("message")))
            else:
                element.error = str(error.get("message"))
        return unplaced

    def canonical(self, name: str, value: Any) -> Any:
        """A category as the model names it (``value`` itself when it is not another
        spelling of a known name)."""
        if not isinstance(value, str):
            return value
        found = self.matcher.match(name, value.strip())
        return found.name if found.kind is MatchKind.REWRITTEN else value

    def _category_validator(self, name: str) -> Callable[[Any], str | None]:
        def check(value: Any) -> str | None:
            problem = field_error(name, value)
            if problem is None and isinstance(value, str):
                found = self.matcher.match(name, value.strip())
                if found.kind is MatchKind.NEAR_MISS and found.suggestion is not None:
                    return near_miss_message(name, found.name, found.suggestion)
            return problem

        return check

    def _read_spelling(self, name: str) -> None:
        """Show another spelling of a known name as that name (``north_ames``: North Ames),
        saying so under the field."""
        select = self.inputs[name]
        sent = select.value
        canonical = self.canonical(name, sent)
        select.props["hint"] = CATEGORY_HINT
        if canonical == sent:
            return
        options = select.options
        if isinstance(options, dict) and sent in options:  # added as typed: offer the name
            options = {k: v for k, v in options.items() if k != sent}
            options.setdefault(canonical, canonical)
            select.set_options(options)
        select.set_value(canonical)
        select.props["hint"] = f"Read '{sent}' as {canonical}"

    def on_change(self, callback: Any) -> None:
        """Call ``callback`` whenever any input changes."""
        for element in self.inputs.values():
            element.on_value_change(callback)

    def _number(self, spec: NumberSpec, default: Any) -> ui.number:
        # No min, max or precision here: NiceGUI would clamp and round the value on blur,
        # pricing a house other than the one typed; the validator says what is wrong instead.
        element = ui.number(
            label=spec.label + (f" ({spec.unit})" if spec.unit else ""),
            value=default,
            step=spec.step,
            validation=_validator(spec.name),
        )
        hint = HINTS.get(spec.name) or _range_hint(spec)
        element.props(f'hint="{hint}" inputmode="decimal"').classes("w-full")
        if spec.unit:
            element.props(f'suffix="{spec.unit}"')
        return element.mark(f"input-{spec.name}").props(testid(f"input-{spec.name}"))

    def _select(self, name: str, default: str | None) -> ui.select:
        # The example's value until the model card says which categories the model knows.
        element = ui.select(
            [default] if default else [],
            value=default,
            label=LABELS[name],
            with_input=True,
            new_value_mode="add-unique",
            validation=_validator(name),
        )
        element.props["hint"] = CATEGORY_HINT
        element.on_value_change(lambda _: self._read_spelling(name))
        return element.classes("w-full").mark(f"input-{name}").props(testid(f"input-{name}"))


def category_notes(card: ModelCard) -> dict[str, dict[str, str]]:
    """Option labels for categories the model barely or never learned, per column."""
    notes: dict[str, dict[str, str]] = {}
    profile = (card.profile or {}).get("categorical", {})
    for name in CATEGORY_COLUMNS:
        counts = profile.get(name, {}).get("counts", {})
        column = {
            value: f"{value} · rare in training ({_sales(count)})"
            for value, count in counts.items()
            if count < RARE_CATEGORY_COUNT
        }
        for value, count in card.untrained_categories.get(name, {}).items():
            column[value] = (
                f"{value} · not in training ({_sales(count)} in the data): scored as unknown"
            )
        notes[name] = column
    return notes


def _sales(count: int) -> str:
    return f"{count} sale{'s' if count != 1 else ''}"


def _validator(name: str) -> Callable[[Any], str | None]:
    return lambda value: field_error(name, value)


def _number(value: object) -> str:
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:g}"


def _range_hint(spec: NumberSpec) -> str:
    pattern = "{:.0f}" if spec.name == "year_built" else "{:,.0f}"
    low = pattern.format(spec.minimum) if spec.minimum is not None else "?"
    high = pattern.format(spec.maximum) if spec.maximum is not None else "?"
    return f"{low} – {high}"
