"""Batch throughput: the single-process limit against a job end to end, and worker memory.

Not a test. Run it once the model is trained (``hpp train``)::

    .venv/bin/python bench/batch_throughput.py [--rows 1000000] [--big-rows 5000000]

1. The limit: in one process, ``pandas.read_csv`` + ``Predictor.predict_frame`` +
   ``to_csv`` of the same 1M-row file.
2. A 1M-row job end to end (upload to result ready) through a real gateway, Redis and
   1, then 2, ``hpp worker`` processes (concurrency 1 each).
3. Peak RSS of a worker process (main + pool child) scoring 1M and 5M rows.

``--multi`` runs the multi-file measurement instead (``bench/multifile.py``): a job from a
pointer over 40 Parquet files (20M rows) in the local blob store, 2 workers, against a
2M-row run; it writes ``bench/results/batch_multifile.json`` with the projected time and
Fargate cost table that the README renders.

Everything shares the machine's cores (two here), so read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from multifile import ROW_GROUP_ROWS, ROWS_PER_FILE, run_multifile
from results import write_result

from core.settings import AppSettings, hash_api_key
from hpp.redis_server import embedded_redis, free_port
from ml.predict import Predictor
from ml.registry import resolve_alias

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"
LOCATIONS = ["North Ames", "College Creek", "Old Town", "Edwards", "Somerset", "Gilbert"]
CONDITIONS = ["Average", "Above Average", "Good", "Below Average"]


def main() -> None:
    """Run all three measurements and print the table."""
    args = _parse_args()
    settings = AppSettings.from_env()
    tracking_uri = settings.core.resolved_tracking_uri()
    version = resolve_alias(
        tracking_uri=tracking_uri, name=settings.core.registered_model, alias="champion"
    )
    if version is None:
        sys.exit(f"no champion model in {tracking_uri}: run `hpp train` first")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hpp-bench-"))
    if args.multi:
        main_multi(args, work, tracking_uri)
        return
    small = make_csv(work / f"houses-{args.rows}.csv", args.rows)
    big = make_csv(work / f"houses-{args.big_rows}.csv", args.big_rows)
    print(f"model version {version}; files in {work}", flush=True)

    model_uri = f"models:/{settings.core.registered_model}/{version}"
    before = measure_limit(small, model_uri, tracking_uri)
    print(f"limit: {before:,.0f} rows/s", flush=True)
    env = {"HPP_MLFLOW_TRACKING_URI": tracking_uri, "HPP_CHUNK_ROWS": str(args.chunk_rows)}
    one = run_job(small, workers=1, env=env, work=work)
    print(f"1 worker: {one}", flush=True)
    two = run_job(small, workers=2, env=env, work=work)
    print(f"2 workers: {two}", flush=True)
    huge = run_job(big, workers=1, env=env, work=work)
    print(f"1 worker, big file: {huge}", flush=True)
    # The cores are shared with whatever else runs: measure the limit again and average.
    after = measure_limit(small, model_uri, tracking_uri)
    print(f"limit again: {after:,.0f} rows/s", flush=True)
    print_table(args, (before + after) / 2, one, two, huge)
    write_result(
        "batch_throughput",
        parameters={"rows": args.rows, "big_rows": args.big_rows, "chunk_rows": args.chunk_rows},
        figures={
            "limit_rows_per_s": [before, after],
            "one_worker_rows_per_s": one.rate,
            "two_workers_rows_per_s": two.rate,
            "big_file_rows_per_s": huge.rate,
            "peak_pss_mb": {"rows": one.peak_rss_mb, "big_rows": huge.peak_rss_mb},
        },
        note=args.note,
    )


def main_multi(args: argparse.Namespace, work: Path, tracking_uri: str) -> None:
    """The multi-file run (``bench/multifile.py``) and its results file."""
    figures = run_multifile(
        work=work,
        tracking_uri=tracking_uri,
        rows=args.multi_rows,
        small_rows=args.multi_small_rows,
        workers=args.workers,
        sampler=_RssSampler,
    )
    big, small = figures["big"], figures["small"]
    print(
        f"\n{big['rows']:,} rows / {small['rows']:,} rows: worker peak PSS "
        f"{big['worker_peak_pss_mb']:.0f} / {small['worker_peak_pss_mb']:.0f} MB "
        f"(ratio {figures['memory_ratio']:.2f}); "
        f"per worker {figures['per_worker_rows_per_s']:,.0f} rows/s"
    )
    for row in figures["projection"]["table"]:
        print(
            f"{row['rows']:>13,} rows x {row['workers']:>2} workers: "
            f"{row['seconds'] / 60:8.1f} min, "
            f"${row['cost_usd']:8.2f}, S3 {row['s3_puts_per_s']:6.0f} PUT/s, "
            f"Redis job {row['redis_job_mb']:.1f} MB, read by each step "
            f"{row['step_read_mb'] * 1e3:.2f} kB"
        )
    write_result(
        "batch_multifile",
        parameters={
            "rows": args.multi_rows,
            "small_rows": args.multi_small_rows,
            "files": -(-args.multi_rows // ROWS_PER_FILE),
            "rows_per_file": ROWS_PER_FILE,
            "chunk_rows": ROW_GROUP_ROWS,
            "workers": args.workers,
            "output_format": "csv",
        },
        figures=figures,
        note=args.note,
        source="bench/batch_throughput.py --multi (bench/multifile.py)",
    )


@dataclass
class JobRun:
    """One end-to-end job measurement."""

    rows: int
    seconds: float
    upload_seconds: float
    peak_rss_mb: float
    child_peak_rss_mb: float

    @property
    def rate(self) -> float:
        """Rows per second, upload to result ready."""
        return self.rows / self.seconds

    def __str__(self) -> str:
        return (
            f"{self.rows:,} rows in {self.seconds:.1f}s ({self.rate:,.0f} rows/s), "
            f"upload {self.upload_seconds:.1f}s, worker peak PSS {self.peak_rss_mb:.0f} MB, "
            f"pool child peak RSS {self.child_peak_rss_mb:.0f} MB"
        )


def make_csv(path: Path, rows: int) -> Path:
    """A CSV of plausible houses (about 1 in 1,000 invalid), written once and reused."""
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    with path.open("w") as out:
        out.write("sqft,bedrooms,bathrooms,location,year_built,condition\n")
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            sqft = rng.integers(500, 4000, n)
            sqft[rng.random(n) < 0.001] = -1
            frame = pd.DataFrame(
                {
                    "sqft": sqft,
                    "bedrooms": rng.integers(1, 6, n),
                    "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n),
                    "location": rng.choice(LOCATIONS, n),
                    "year_built": rng.integers(1900, 2021, n),
                    "condition": rng.choice(CONDITIONS, n),
                }
            )
            frame.to_csv(out, header=False, index=False, lineterminator="\n")
    return path


def measure_limit(path: Path, model_uri: str, tracking_uri: str) -> float:
    """Rows per second of read_csv + predict_frame + to_csv in this one process."""
    predictor = Predictor.load(model_uri, tracking_uri=tracking_uri)
    started = time.perf_counter()
    frame = pd.read_csv(path)
    scored = predictor.predict_frame(frame)
    out = path.with_suffix(".limit.csv")
    pd.concat([frame, scored], axis=1).to_csv(out, index=False)
    seconds = time.perf_counter() - started
    out.unlink()
    return len(frame) / seconds


def run_job(path: Path, *, workers: int, env: dict[str, str], work: Path) -> JobRun:
    """Bring up Redis, a gateway and ``workers`` workers; time one job of ``path``."""
    with embedded_redis() as redis_url:
        blobs = Path(tempfile.mkdtemp(prefix="blobs-", dir=work))
        port = free_port()
        environ = {
            **os.environ,
            "HPP_REDIS_URL": redis_url,
            "HPP_BLOB_URL": blobs.as_uri(),
            "HPP_PORT": str(port),
            "HPP_API_KEYS": json.dumps({"bench": hash_api_key(KEY)}),
            "HPP_MODEL_POLL_SECONDS": "0",
            "HPP_LOG_LEVEL": "WARNING",
            "HPP_MAX_UPLOAD_BYTES": str(2 << 30),
            **env,
        }
        processes = [_spawn("gateway", environ, work)]
        processes += [_spawn("worker", environ, work) for _ in range(workers)]
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url)
            with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=600) as http:
                _warm_up(http, path)  # each worker loads the model before the clock starts
                sampler = _RssSampler([p.pid for p in processes[1:]])
                sampler.start()
                started = time.perf_counter()
                with path.open("rb") as body:
                    job = http.post(
                        "/v1/jobs", content=body, headers={"Content-Type": "text/csv"}
                    ).json()
                uploaded = time.perf_counter() - started
                final = _wait_final(http, job["id"])
                seconds = time.perf_counter() - started
                sampler.stop()
            if final["status"] != "succeeded":
                raise RuntimeError(f"job did not succeed: {final}")
            return JobRun(
                final["rows_done"], seconds, uploaded, sampler.peak_mb, sampler.child_peak_mb
            )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)


def print_table(
    args: argparse.Namespace, limit: float, one: JobRun, two: JobRun, huge: JobRun
) -> None:
    """The summary table with ratios against the limit and between file sizes."""
    print()
    print(f"| measurement ({os.cpu_count()} cores shared) | rows | seconds | rows/s | vs limit |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| single process read_csv+predict_frame+to_csv | {args.rows:,} | "
        f"{args.rows / limit:.1f} | {limit:,.0f} | 100 % |"
    )
    for label, run in (("job, 1 worker", one), ("job, 2 workers", two)):
        print(
            f"| {label} (upload to result) | {run.rows:,} | {run.seconds:.1f} | "
            f"{run.rate:,.0f} | {run.rate / limit:.0%} |"
        )
    print()
    print("| one worker scoring | tree peak PSS MB | pool child peak RSS MB |")
    print("|---|---:|---:|")
    for run in (one, huge):
        print(f"| {run.rows:,} rows | {run.peak_rss_mb:.0f} | {run.child_peak_rss_mb:.0f} |")
    print(
        f"| ratio ({huge.rows // one.rows}x rows) | {huge.peak_rss_mb / one.peak_rss_mb:.2f} | "
        f"{huge.child_peak_rss_mb / one.child_peak_rss_mb:.2f} |"
    )
    print(f"\n2 workers / 1 worker: {two.rate / one.rate:.2f}x")


def _spawn(command: str, environ: dict[str, str], work: Path) -> subprocess.Popen[bytes]:
    log = (work / f"{command}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "hpp.cli", command],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gateway not ready")


def _warm_up(http: httpx.Client, path: Path) -> None:
    with path.open("rb") as handle:
        head = b"".join(handle.readline() for _ in range(2_001))
    for _ in range(4):
        job = http.post("/v1/jobs", content=head, headers={"Content-Type": "text/csv"}).json()
        _wait_final(http, job["id"])


def _wait_final(http: httpx.Client, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.25)


class _RssSampler:
    """Peak memory of each worker process tree (main + pool child), sampled.

    ``peak_mb`` sums PSS over the tree (pages shared after the fork are counted once);
    ``child_peak_mb`` is the RSS of the pool process that does the scoring.
    """

    def __init__(self, pids: list[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak_mb = 0.0
        self.child_peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # PSS reads /proc/<pid>/smaps_rollup: cheap enough twice a second, not more often.
        while not self._stop.is_set():
            for process in self.processes:
                try:
                    children = process.children(recursive=True)
                    pss = sum(p.memory_full_info().pss for p in [process, *children]) / 2**20
                    child = max((p.memory_info().rss for p in children), default=0) / 2**20
                except psutil.Error:
                    continue
                self.peak_mb = max(self.peak_mb, pss)
                self.child_peak_mb = max(self.child_peak_mb, child)
            self._stop.wait(0.5)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--workdir", help="Where to keep the generated CSVs (reused).")
    parser.add_argument("--note", default="", help="a remark kept with the results file")
    parser.add_argument("--multi", action="store_true", help="the multi-file Parquet run")
    parser.add_argument("--multi-rows", type=int, default=20_000_000)
    parser.add_argument("--multi-small-rows", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2, help="workers of the multi-file run")
    return parser.parse_args()


if __name__ == "__main__":
    main()
