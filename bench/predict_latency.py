"""Single-row and bulk scoring speed of the registered champion, measured side by side.

    .venv/bin/python bench/predict_latency.py [--rows 1000000] [--repeats 2000]

Prints per-row latency of the pipeline's own predict on a one-row DataFrame, the
booster's ``inplace_predict`` on an encoded row, and ``Predictor.predict_one`` (plain, with
an explanation, with 3 and 10 comparable sales); then
``predict_frame`` throughput on a frame of CSV strings. Needs a trained model
(``hpp train``). Not a test: these machines are shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from results import write_result

from core.settings import CoreSettings
from ml.contract import FEATURE_COLUMNS, HouseFeatures
from ml.frame_rules import coerce_frame
from ml.predict import BoosterScorer, Predictor

DATA = Path(__file__).resolve().parents[1] / "data" / "house_data.csv"


def per_call_us(fn: Callable[[], object], repeats: int) -> float:
    """Median of five timed batches, in microseconds per call."""
    for _ in range(min(repeats, 200)):
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        samples.append((time.perf_counter() - start) / repeats * 1e6)
    return statistics.median(samples)


def main() -> None:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--frame-repeats", type=int, default=3)
    parser.add_argument("--note", default="", help="a remark kept with the results file")
    args = parser.parse_args()
    core = CoreSettings()
    predictor = Predictor.load(core.champion_uri(), tracking_uri=core.resolved_tracking_uri())
    data = pd.read_csv(DATA)
    row = data[list(FEATURE_COLUMNS)].head(1)
    house = HouseFeatures(**row.iloc[0].to_dict())
    encoded = predictor.encoder.encode_frame(row)

    results = {
        "pipeline.predict (1-row DataFrame)": per_call_us(
            lambda: predictor.pipeline_predict(row), max(args.repeats // 20, 50)
        )
    }
    if isinstance(predictor.scorer, BoosterScorer):
        booster = predictor.scorer.booster
        results["booster.inplace_predict (encoded row)"] = per_call_us(
            lambda: booster.inplace_predict(encoded), args.repeats
        )
    results["Predictor.predict_one"] = per_call_us(
        lambda: predictor.predict_one(house), args.repeats
    )
    results["Predictor.predict_one(explain=True)"] = per_call_us(
        lambda: predictor.predict_one(house, explain=True), max(args.repeats // 10, 50)
    )
    if predictor.sales is not None:
        for k in (3, 10):
            results[f"Predictor.predict_one(comparables={k})"] = per_call_us(
                partial(predictor.predict_one, house, comparables=k), max(args.repeats // 4, 50)
            )

    print(f"model {predictor.card.name} v{predictor.version} ({predictor.card.model_type})")
    base = results["pipeline.predict (1-row DataFrame)"]
    print(f"{'single row':<42}{'µs/row':>10}{'vs pipeline':>14}")
    for name, us in results.items():
        print(f"{name:<42}{us:>10.1f}{base / us:>13.1f}x")

    big = pd.concat([data] * (args.rows // len(data) + 1), ignore_index=True).head(args.rows)
    text = big[list(FEATURE_COLUMNS)].astype(str)
    typed = coerce_frame(text)
    encoded = predictor.encoder.encode_frame(typed)
    whole = seconds(lambda: predictor.predict_frame(text), args.frame_repeats)
    model = seconds(lambda: predictor.scorer.margin(encoded), args.frame_repeats)
    scored = predictor.predict_frame(text)
    assert scored["error"].isna().all()
    print(
        f"\npredict_frame on {len(text):,} rows of CSV strings "
        f"(median of {args.frame_repeats}, after a warm-up):"
    )
    print(f"{'  whole call':<42}{whole:>8.2f} s{len(text) / whole:>14,.0f} rows/s")
    print(f"{'  of which the model alone':<42}{model:>8.2f} s{len(text) / model:>14,.0f} rows/s")
    print(f"{'  parsing, checks, features, warnings':<42}{whole - model:>8.2f} s")
    write_result(
        "predict_latency",
        parameters={
            "rows": args.rows,
            "repeats": args.repeats,
            "frame_repeats": args.frame_repeats,
        },
        figures={
            "predict_one_us": results["Predictor.predict_one"],
            "pipeline_predict_us": base,
            "inplace_predict_us": results.get("booster.inplace_predict (encoded row)"),
            "predict_frame_rows_per_s": len(text) / whole,
            "model_seconds": model,
            "overhead_seconds": whole - model,
            "single_row_us": results,
        },
        note=args.note,
    )


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
