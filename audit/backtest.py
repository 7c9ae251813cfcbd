"""``hpp audit backtest``: a random sample of logged predictions whose sale prices are known.

Rows come from the audit trail (a job chunk's from its payloads), actual prices from the
feedback the gateway accepted (``POST /v1/feedback``, keyed by prediction id or
``job:{id}:{row}``). For the sample,
overall and by neighbourhood, predicted-price band and model version: count, mean absolute
error, median absolute percentage error, bias (mean signed percentage error: positive
means the model priced above the sale), the share within 10 % of the sale (PPE10), and how
often the sale fell inside the interval (coverage against its nominal level).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from audit.chain import parse_object
from audit.records import flatten
from audit.store import AuditStore

BANDS: tuple[tuple[float, str], ...] = (
    (100_000, "under $100k"),
    (150_000, "$100k-150k"),
    (200_000, "$150k-200k"),
    (300_000, "$200k-300k"),
    (float("inf"), "$300k and over"),
)
GROUPS = ("neighbourhood", "price_band", "model_version")

# Reads a job chunk's rows back from its input and output payloads. The CSV format is the
# workers' (``workers.audit_rows.chunk_rows``); the caller passes the reader in, so the
# audit package stays below the workers that write into it.
ChunkRows = Callable[..., list[dict[str, Any]]]


async def logged_rows(store: AuditStore, *, chunk_rows: ChunkRows) -> list[dict[str, Any]]:
    """Every logged prediction row (one per feedback key; a redelivered chunk counts once).

    A job chunk's rows are read from its payloads; a chunk whose payloads are missing is
    left out (``verify`` reports it).
    """
    rows: dict[str, dict[str, Any]] = {}
    for stream in await store.streams():
        for segment in await store.segments(stream):
            for record in map(parse_object, segment.lines):
                for row in await _rows(store, stream, record or {}, chunk_rows):
                    row["model_version"] = (record or {}).get("model_version")
                    rows.setdefault(str(row["key"]), row)
    return list(rows.values())


async def _rows(
    store: AuditStore, stream: str, record: dict[str, Any], chunk_rows: ChunkRows
) -> list[dict[str, Any]]:
    if record.get("kind") != "job_chunk":
        return flatten(record)
    payloads = record.get("payloads") or {}
    input_data = await store.get_payload(stream, str(payloads.get("input")))
    output = await store.get_payload(stream, str(payloads.get("output")))
    if input_data is None or output is None:
        return []
    return chunk_rows(record, input_data=input_data, output=output)


def backtest(
    rows: list[dict[str, Any]], actuals: dict[str, float], *, sample: int, seed: int | None = None
) -> dict[str, Any]:
    """The report over a random sample of ``sample`` rows that have an actual price."""
    known = [
        {**row, "actual": actuals[row["key"]]}
        for row in rows
        if row["key"] in actuals and row.get("price") is not None
    ]
    chosen = random.Random(seed).sample(known, min(sample, len(known)))
    for row in chosen:
        row["neighbourhood"] = (row.get("normalised") or {}).get("location") or "?"
        row["price_band"] = price_band(float(row["price"]))
    levels = {float(row["level"]) for row in chosen if row.get("level") is not None}
    return {
        "logged": len(rows),
        "with_actual_price": len(known),
        "sampled": len(chosen),
        "seed": seed,
        "interval_level": max(levels) if levels else None,
        "overall": metrics(chosen),
        **{group: _by(chosen, group) for group in GROUPS},
        "sample_keys": sorted(row["key"] for row in chosen),
    }


def metrics(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Count, MAE, MdAPE, bias, PPE10 and interval coverage of rows with ``actual``."""
    table = [(r["actual"], r["price"], r.get("low"), r.get("high")) for r in rows]
    if not table:
        return {"n": 0}
    actual = np.array([t[0] for t in table], dtype=float)
    price = np.array([t[1] for t in table], dtype=float)
    relative = (price - actual) / actual
    inside = [lo is not None and hi is not None and lo <= a <= hi for a, _, lo, hi in table]
    return {
        "n": len(table),
        "mae": round(float(np.mean(np.abs(price - actual))), 2),
        "mdape": round(float(np.median(np.abs(relative))), 4),
        "bias": round(float(np.mean(relative)), 4),
        "ppe10": round(float(np.mean(np.abs(relative) <= 0.10)), 4),
        "coverage": round(float(np.mean(inside)), 4),
    }


def price_band(price: float) -> str:
    """The predicted-price band a row falls in."""
    return next(name for upper, name in BANDS if price < upper)


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as a text table."""
    out = [
        f"{report['logged']} logged predictions, {report['with_actual_price']} with an actual "
        f"price, {report['sampled']} sampled (seed {report['seed']}); "
        f"interval level {report['interval_level']}",
        f"{'group':<34}{'n':>6}{'MAE':>11}{'MdAPE':>8}{'bias':>8}{'PPE10':>7}{'cover':>7}",
        _line("overall", report["overall"]),
    ]
    for group in GROUPS:
        out.append(f"by {group.replace('_', ' ')}:")
        out += [_line(f"  {name}", values) for name, values in report[group].items()]
    return out


def _by(rows: list[dict[str, Any]], field: str) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(field)), []).append(row)
    return {name: metrics(members) for name, members in sorted(groups.items())}


def _line(name: str, m: dict[str, Any]) -> str:
    if not m.get("n"):
        return f"{name:<34}{0:>6}"
    return (
        f"{name[:33]:<34}{m['n']:>6}{m['mae']:>11,.0f}{m['mdape']:>8.1%}{m['bias']:>+8.1%}"
        f"{m['ppe10']:>7.0%}{m['coverage']:>7.0%}"
    )
