"""Render the README's benchmark and soak figures from ``bench/results/*.json``.

The README marks each rendered figure with ``<!-- bench:NAME -->...<!-- /bench:NAME -->``;
this script replaces what stands between the marks with what ``BLOCKS[NAME]`` renders from
the results file it names. A benchmark writes its file when it runs; render, then commit
both. ``tests/bench/test_render_readme.py`` fails when the README and the files disagree.

    .venv/bin/python bench/render_readme.py           # rewrite README.md
    .venv/bin/python bench/render_readme.py --check   # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- bench:(?P<name>[a-z_]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.S)

Result = dict[str, Any]


def render_predict_latency(result: Result) -> str:
    """The single-row and frame figures of ``bench/predict_latency.py``."""
    f, rows = result["figures"], result["parameters"]["rows"]
    one, pipeline, inplace = f["predict_one_us"], f["pipeline_predict_us"], f["inplace_predict_us"]
    return (
        f"`predict_one` {one:.1f} µs vs the pipeline's {pipeline / 1000:.2f} ms "
        f"(**~{round(pipeline / one, -1):.0f}×**) and `inplace_predict`'s {inplace:.0f} µs "
        f"({pipeline / inplace:.0f}×); `predict_frame` {f['predict_frame_rows_per_s'] / 1000:.0f}k "
        f"rows/s on {rows / 1e6:g}M rows (median of {result['parameters']['frame_repeats']}; the "
        f"booster alone {f['model_seconds']:.2f} s, parsing, checks, features and warnings "
        f"{f['overhead_seconds']:.2f} s)" + _comparables(f) + _tail(result)
    )


def _comparables(figures: Result) -> str:
    """``predict_one`` with comparable sales, when the run measured it."""
    single = figures.get("single_row_us") or {}
    timed = {k: v for k, v in single.items() if "comparables=" in k}
    if not timed:
        return ""
    one = figures["predict_one_us"]
    return "; " + ", ".join(
        f"`{name.removeprefix('Predictor.')}` {us:.0f} µs ({us / one:.1f}× `predict_one`)"
        for name, us in timed.items()
    )


def render_gateway_load(result: Result) -> str:
    """The three servers side by side, and the ratios, of ``bench/gateway_load.py``."""
    f, p = result["figures"], result["parameters"]
    bare, ours, mlflow = f["bare"], f["gateway"], f["mlflow"]
    rps = ours["requests_per_second"]
    stall = ours["one_connection_p50_ms"]
    return (
        f"median of {p['repeat']} × {p['seconds']} s: bare {bare['requests_per_second']:,.0f} "
        f"req/s (p99 {_ms(bare['p99_ms'])}), **gateway {rps:,.0f} req/s (p50 "
        f"{_ms(ours['p50_ms'])}, p99 {_ms(ours['p99_ms'])})**, `mlflow models serve` "
        f"{mlflow['requests_per_second']:,.0f} req/s (p99 {_ms(mlflow['p99_ms'])}): gateway = "
        f"**{rps / mlflow['requests_per_second']:.0f}× MLflow**, "
        f"**{100 * rps / bare['requests_per_second']:.0f} % of the bare floor**; one-connection "
        f"p50 {stall:.2f} ms{', no 44 ms stall' if stall < 35 else ' (the 44 ms stall)'}"
        + _tail(result)
    )


def render_gateway_limits(result: Result) -> str:
    """The in-process and the cluster-wide rate limiter side by side (``bench/gateway_load.py``)."""
    f, p = result["figures"], result["parameters"]
    bare = f["bare"]["requests_per_second"]

    def row(name: str) -> str:
        rps = f[name]["requests_per_second"]
        cpu = f[name].get("cpu_us_per_request")
        return (
            f"{rps:,.0f} req/s ({100 * rps / bare:.0f} % of the floor; p50 "
            f"{_ms(f[name]['p50_ms'])}, p99 {_ms(f[name]['p99_ms'])}"
            + (f"; {cpu:.0f} µs CPU a request" if cpu else "")
            + ")"
        )

    local, cluster = (
        f["limit-local"]["requests_per_second"],
        f["limit-cluster"]["requests_per_second"],
    )
    return (
        f"median of {p['repeat']} × {p['seconds']} s, rounds interleaved: bare {bare:,.0f} req/s; "
        f"gateway without Redis (in-process limiter) {row('gateway')}; over Redis with the "
        f"in-process limiter {row('limit-local')}; **with the cluster limiter "
        f"{row('limit-cluster')}**: cluster / in-process = **{100 * cluster / local:.0f} %**"
        + _limiter_alone(f)
        + _tail(result)
    )


def render_gateway_experiment(result: Result) -> str:
    """Plain, shadow and A/B gateways side by side (``bench/gateway_load.py --results
    gateway_experiment``): the challenger's cost on live traffic."""
    f, p = result["figures"], result["parameters"]
    plain = f["plain"]["requests_per_second"]

    def row(name: str) -> str:
        rps = f[name]["requests_per_second"]
        cpu = f[name].get("cpu_us_per_request")
        return (
            f"{rps:,.0f} req/s (p50 {_ms(f[name]['p50_ms'])}, p99 {_ms(f[name]['p99_ms'])}"
            + (f"; {cpu:.0f} µs CPU a house" if cpu else "")
            + ")"
        )

    shadow, ab = f["shadow"]["requests_per_second"], f["ab"]["requests_per_second"]
    return (
        f"median of {p['repeat']} × {p['seconds']} s, rounds interleaved: plain {row('plain')}; "
        f"shadow {row('shadow')}; A/B ({p['ab_weight']:.0%} to the challenger, the other "
        f"version in shadow) {row('ab')}: **shadow / plain = {100 * shadow / plain:.0f} %, "
        f"A/B / plain = {100 * ab / plain:.0f} %**" + _tail(result)
    )


def _limiter_alone(f: Result) -> str:
    alone = f.get("limiter_cpu_us")
    if not alone:
        return ""
    return (
        f"; the limiter alone, 32 requests at a time: in-process {alone['limit-local']:.1f} µs, "
        f"cluster {alone['limit-cluster']:.1f} µs of CPU a request (one Redis round trip per "
        f"{alone.get('requests_per_round_trip', 20):,.0f} requests at that loop's rate)"
    )


def render_batch_throughput(result: Result) -> str:
    """The single-process limit against whole jobs, and memory, of ``bench/batch_throughput.py``."""
    f, p = result["figures"], result["parameters"]
    before, after = f["limit_rows_per_s"]
    limit = (before + after) / 2
    one, two, big = (
        f["one_worker_rows_per_s"],
        f["two_workers_rows_per_s"],
        f["big_file_rows_per_s"],
    )
    memory = f["peak_pss_mb"]
    return (
        f"limit {limit:,.0f} rows/s (two measurements, {before:,.0f} and {after:,.0f}); 1 worker "
        f"{one:,.0f} rows/s ({100 * one / limit:.0f} % of the limit), 2 workers {two:,.0f} rows/s "
        f"({100 * two / limit:.0f} %, {two / one:.2f}× one worker); {p['big_rows'] / 1e6:g}M rows "
        f"on 1 worker {big:,.0f} rows/s; worker memory {p['big_rows'] / 1e6:g}M/"
        f"{p['rows'] / 1e6:g}M rows = {memory['big_rows'] / memory['rows']:.2f} "
        f"({memory['big_rows']:.0f} vs {memory['rows']:.0f} MB PSS)" + _tail(result)
    )


def render_batch_multifile(result: Result) -> str:
    """The multi-file Parquet run of ``bench/batch_throughput.py --multi`` in one cell."""
    f, p = result["figures"], result["parameters"]
    big, small = f["big"], f["small"]
    return (
        f"{big['rows'] / 1e6:g}M rows in {big['files']} Parquet files, {f['workers']} workers: "
        f"**{big['rows_per_s']:,.0f} rows/s** ({f['per_worker_rows_per_s']:,.0f} per worker; "
        f"{small['rows'] / 1e6:g}M rows: {small['rows_per_s']:,.0f}); worker peak PSS "
        f"{big['worker_peak_pss_mb']:.0f} MB vs {small['worker_peak_pss_mb']:.0f} MB at "
        f"{small['rows'] / 1e6:g}M (**{f['memory_ratio']:.2f}×** for "
        f"{big['rows'] // small['rows']}× the rows); Redis for the job's bookkeeping "
        f"{big['redis_job_bytes'] / 1e3:,.0f} kB at "
        f"peak (**{big['redis_job_bytes'] / big['chunks']:,.0f} B per chunk**, {big['chunks']} "
        f"chunks of {p['chunk_rows']:,} rows; the step queues {big['redis_queue_bytes'] / 1e3:,.0f}"
        f" kB); first progress event {big['first_progress_seconds']:.1f} s after submission; "
        f"finalize {big['finalize_seconds']:.1f} s" + _tail(result)
    )


def render_cost_table(result: Result) -> str:
    """The projected time and Fargate cost per size and fleet, as a Markdown table."""
    f = result["figures"]
    prices, projection = f["prices"], f["projection"]
    lines = [
        "",
        f"From {f['per_worker_rows_per_s']:,.0f} rows/s per worker (measured: "
        f"{f['big']['rows'] / 1e6:g}M rows, {f['workers']} workers, this machine) and Fargate "
        f"in {prices['region']} at ${prices['vcpu_hour']} per vCPU-hour and "
        f"${prices['gb_hour']} per GB-hour, a worker task of {prices['worker_vcpu']:g} vCPU and "
        f"{prices['worker_gb']:g} GB (${projection['task_hour_usd']:.4f} an hour); time = first "
        "progress + rows ÷ (workers × rate) + finalize (measured per chunk, times the chunks), "
        "assuming the rate holds per worker as workers are added (nothing shared is near a "
        "limit at these rates: see below):",
        "",
        "| rows | workers | time | cost | S3 PUT/s | S3 GET/s | Redis job record "
        "| Redis read by each step |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in projection["table"]:
        lines.append(
            f"| {_rows(row['rows'])} | {row['workers']} | {_duration(row['seconds'])} | "
            f"${row['cost_usd']:,.2f} | {row['s3_puts_per_s']:,.0f} | {row['s3_gets_per_s']:,.0f} "
            f"| {_size(row['redis_job_mb'])} | {row['step_read_mb'] * 1e6:,.0f} B |"
        )
    lines.append("")
    lines.append(f"Source: `bench/results/{result['benchmark']}.json`, {str(result['date'])[:10]}.")
    return "\n".join(lines) + "\n"


def _size(megabytes: float) -> str:
    return f"{megabytes:,.1f} MB" if megabytes >= 1 else f"{megabytes * 1000:,.0f} kB"


def _rows(count: int) -> str:
    return f"{count / 1e9:g}B" if count >= 1e9 else f"{count / 1e6:g}M"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def render_soak_summary(result: Result) -> str:
    """The soak run in one table cell."""
    p = result["parameters"]
    return (
        f"{p['minutes']:g} min at {p['rate']:g} predictions/s: {_soak_figures(result)}; RSS growth "
        f"{_growth(result)}" + _source(result)
    )


def render_soak(result: Result) -> str:
    """The soak run as the Load section tells it."""
    p = result["parameters"]
    return (
        f"A {p['minutes']:g}-minute run ({p['rate']:g} predictions/s): {_soak_figures(result)}; "
        f"RSS from the end of a {p['warmup']:g} s warm-up to the end: {_growth(result)}"
        + _tail(result)
    )


def render_interval_coverage(result: Result) -> str:
    """The outer K-fold table of ``bench/interval_coverage.py``: before vs after, by group."""
    p, rows = result["parameters"], result["figures"]["by_group"]
    lines = [
        "",
        "| by | group | houses | before: covered ± s.e. | width | after: covered ± s.e. | width |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    previous = "all"
    for row in rows:
        # The partition names its first row only.
        shown = "" if row["partition"] in {"all", previous} else row["partition"]
        previous = row["partition"]
        cells = [shown, row["group"], f"{row['houses']:,}"]
        for name in ("before", "after"):
            r = row[name]
            cells += [
                f"{_covered(row, r['coverage'], p['targets'])} ± {r['standard_error']:.3f}",
                f"{r['mean_width']:.1%}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    low, high = p["targets"]["group"]
    lines += [
        "",
        f"Outer {p['outer_folds']}-fold × {p['repeats']} repeats over all {p['rows']:,} rows "
        f"(each house held out once per repeat; the model and the whole interval fit, with "
        f"{p['calibration_folds']}-fold out-of-fold calibration, done without its fold). "
        f"Covered: the mean over repeats; ± one repeat's binomial standard error. Bold: outside "
        f"{low:.2f}-{high:.2f} (overall {p['targets']['overall'][0]:.2f}-"
        f"{p['targets']['overall'][1]:.2f}) in a group of {p['targets']['min_houses']}+ houses"
        + _source(result),
        "",
    ]
    return "\n".join(lines)


def render_interval_holdout(result: Result) -> str:
    """The fixed 80/20 hold-out of ``bench/interval_coverage.py`` in one line per partition."""
    rows = result["figures"]["holdout"]
    if not rows:
        return "(not measured in the last run)"
    parts = [
        f"{row['group']} ({row['houses']}) {row['before']['coverage']:.3f} → "
        f"{row['after']['coverage']:.3f}"
        for row in rows
    ]
    width = rows[0]
    return (
        f"{'; '.join(parts)}; mean width {width['before']['mean_width']:.1%} → "
        f"{width['after']['mean_width']:.1%}" + _source(result)
    )


def render_accuracy_experiments(result: Result) -> str:
    """The paired table of ``bench/accuracy_experiments.py``."""
    p, rows = result["parameters"], result["figures"]["variants"]
    lines = [
        "",
        "| variant | mean RMSE | paired difference | 90 % interval (corrected) | beyond noise |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        low, high = row["interval"]
        plain = row["variant"] == "plain"
        lines.append(
            f"| {row['variant']} | {row['mean_rmse']:,.0f} | "
            + ("—" if plain else f"{row['mean_difference']:+,.0f}")
            + " | "
            + ("—" if plain else f"{low:+,.0f} to {high:+,.0f}")
            + " | "
            + ("—" if plain else ("**better**" if row["better_beyond_noise"] else "no"))
            + " |"
        )
    lines += [
        "",
        f"{p['repeats']} × {p['folds']}-fold CV over all {p['rows']:,} rows, the same splits for "
        f"every variant; the difference is the variant's RMSE minus the plain XGBoost's on each "
        f"split (negative: better), its {p['level']:.0%} interval Nadeau-Bengio corrected"
        + _source(result),
        "",
    ]
    return "\n".join(lines)


def render_gate_stability(result: Result) -> str:
    """Each run's estimate, interval and verdict beside the old single-split rule's."""
    f, p = result["figures"], result["parameters"]
    level = f["runs"][0]["level"] if f["runs"] else 0.9
    seconds = [r["seconds"] for r in f["runs"]]
    lines = [
        f"\n| run | rows | CV RMSE (mean, {level * 100:.0f} % interval) | CV MAE | CV R² | verdict "
        "| hold-out RMSE | old rule (hold-out alone) |",
        "|---:|---:|---|---|---|---|---:|---|",
    ]
    for run in f["runs"]:
        rmse, mae, r2 = (run["estimate"][m] for m in ("rmse", "mae", "r2"))
        verdict = "**pass**" if run["passed"] else "**fail**"
        if run["straddles"]:
            verdict += f", interval straddles {', '.join(run['straddles'])}"
        old = "pass" if run["old_rule_passed"] else f"fail ({', '.join(run['old_rule_failures'])})"
        lines.append(
            f"| {run['run']} | {run['rows']:,} | {rmse['mean']:,.0f} ({rmse['low']:,.0f} to "
            f"{rmse['high']:,.0f}) | {mae['mean']:,.0f} ({mae['low']:,.0f} to {mae['high']:,.0f}) "
            f"| {r2['mean']:.3f} ({r2['low']:.3f} to {r2['high']:.3f}) | {verdict} | "
            f"{run['holdout']['rmse']:,.0f} | {old} |"
        )
    return (
        "\n".join(lines) + f"\n\n{p['runs']} runs, each the shipped data minus a different random "
        f"{p['drop'] * 100:.0f} % of its rows, through `hpp train` with `{p['config']}`: the gates "
        f"(repeated CV) say **{f['new_rule']}**, the old rule (the 20 % hold-out alone) "
        f"**{f['old_rule']}**; CV RMSE means {f['cv_rmse_range'][0]:,.0f} to "
        f"{f['cv_rmse_range'][1]:,.0f}, hold-out RMSEs {f['holdout_rmse_range'][0]:,.0f} to "
        f"{f['holdout_rmse_range'][1]:,.0f}; a run took {min(seconds) / 60:.1f} "
        f"to {max(seconds) / 60:.1f} min of wall time (median "
        f"{f['median_seconds'] / 60:.1f}) on 2 cores shared with other engineers' test runs"
        + _tail(result)
        + "\n"
    )


BLOCKS: dict[str, tuple[str, Callable[[Result], str]]] = {
    "interval_coverage": ("interval_coverage", render_interval_coverage),
    "interval_holdout": ("interval_coverage", render_interval_holdout),
    "accuracy_experiments": ("accuracy_experiments", render_accuracy_experiments),
    "gate_stability": ("gate_stability", render_gate_stability),
    "predict_latency": ("predict_latency", render_predict_latency),
    "gateway_load": ("gateway_load", render_gateway_load),
    "gateway_limits": ("gateway_limits", render_gateway_limits),
    "gateway_experiment": ("gateway_experiment", render_gateway_experiment),
    "batch_throughput": ("batch_throughput", render_batch_throughput),
    "batch_multifile": ("batch_multifile", render_batch_multifile),
    "cost_table": ("batch_multifile", render_cost_table),
    "soak_summary": ("soak", render_soak_summary),
    "soak": ("soak", render_soak),
}


def render(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked block rendered again from the results files."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"README block bench:{name} has no renderer in bench/render_readme.py")
        benchmark, renderer = BLOCKS[name]
        result = json.loads((results / f"{benchmark}.json").read_text())
        return f"<!-- bench:{name} -->{renderer(result)}<!-- /bench:{name} -->"

    return BLOCK.sub(replace, text)


def main() -> int:
    """Rewrite README.md, or with ``--check`` say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args()
    text = README.read_text()
    rendered = render(text)
    if args.check:
        if rendered != text:
            print("README.md's benchmark figures differ from bench/results: run", file=sys.stderr)
            print("  .venv/bin/python bench/render_readme.py", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        README.write_text(rendered)
        print("README.md updated from bench/results")
    return 0


def _soak_figures(result: Result) -> str:
    f = result["figures"]
    return (
        f"{f['predictions']:,} predictions, p50 {_ms(f['p50_ms'])}, p99 {_ms(f['p99_ms'])}, "
        f"{f['jobs']:,} jobs ({f['rows_scored'] / 1e6:.1f} M rows), {f['errors']:,} errors"
    )


def _covered(row: Result, coverage: float, targets: Result) -> str:
    low, high = targets["overall"] if row["partition"] == "all" else targets["group"]
    off = row["houses"] >= targets["min_houses"] and not low <= coverage <= high
    return f"**{coverage:.3f}**" if off else f"{coverage:.3f}"


def _growth(result: Result) -> str:
    parts = []
    for name, figures in result["figures"]["processes"].items():
        label = re.sub(r" \(\d+\)$", "", name)  # the pid a run adds
        start, end = figures.get("rss_mb_after_warmup"), figures.get("rss_mb_end")
        sizes = f" ({start:g} → {end:g} MB)" if start is not None and end is not None else ""
        parts.append(f"{label} {figures['growth_percent']:+.1f} %{sizes}")
    return ", ".join(parts)


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.1f} ms"


def _tail(result: Result) -> str:
    note = f"; {result['note']}" if result.get("note") else ""
    return note + _source(result)


def _source(result: Result) -> str:
    date = str(result["date"])[:10]
    return f" (`bench/results/{result['benchmark']}.json`, {date})"


if __name__ == "__main__":
    sys.exit(main())
