"""The multi-file run of ``bench/batch_throughput.py``: a job from a pointer over Parquet files.

A 20M-row input as 40 Parquet files in the local blob store, scored by 2 workers, beside a
2M-row input of the same files' size (4 files): rows/s, worker peak memory (flat if the
two agree), the Redis memory of the job's bookkeeping (per chunk), the time from
submission to the first progress event, and what one chunk step reads from Redis (its
message and the job's fields: the same at any size, since the plan is a blob). From the
measured per-worker throughput it projects time and Fargate cost for 10M, 100M and 1B rows
at 4, 16 and 64 workers, and where each limit that bends first (Redis bookkeeping, S3
request rates, result assembly) would bend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from core.settings import hash_api_key
from hpp.redis_server import embedded_redis, free_port
from jobs.keys import fair_owner_queue_key, job_key, job_keys
from jobs.queue import QUEUE
from jobs.store import STEP_FIELDS

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"
LOCATIONS = ["North Ames", "College Creek", "Old Town", "Edwards", "Somerset", "Gilbert"]
CONDITIONS = ["Average", "Above Average", "Good", "Below Average"]
ROWS_PER_FILE = 500_000
ROW_GROUP_ROWS = 50_000  # one row group per 50,000-row chunk

# Fargate, Linux/x86_64, us-east-1 on-demand (aws.amazon.com/fargate/pricing, 2026-11).
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
WORKER_VCPU, WORKER_GB = 1.0, 2.0  # infra/cloudformation/services.yaml WorkerTaskDefinition
TABLE_ROWS = (10_000_000, 100_000_000, 1_000_000_000)
TABLE_WORKERS = (4, 16, 64)
# S3 requests a chunk of a Parquet pointer job makes (workers/pipeline.py): reads: the
# footer (2 ranged GETs, pyarrow's footer probe and the metadata) and one ranged GET per
# column chunk read (7 columns of one row group here); writes: the part, its price
# triples, its stats, and the audit trail's two payloads and chain record.
S3_GETS_PER_CHUNK = 2 + 7
S3_PUTS_PER_CHUNK = 6
S3_PUT_PER_PREFIX_PER_S = 3_500  # S3's documented rate per partitioned prefix
S3_GET_PER_PREFIX_PER_S = 5_500


@dataclass
class MultiRun:
    """One pointer job over Parquet files, end to end."""

    files: int
    rows: int
    chunks: int
    seconds: float
    first_progress_seconds: float
    finalize_seconds: float
    worker_peak_pss_mb: float
    redis_job_bytes: int  # the job's record, counted-chunk set and attempts (peak)
    redis_queue_bytes: int  # the owner's step list, the broker queue and unacked (peak)
    redis_used_delta_bytes: int  # INFO used_memory, peak during the job minus before
    # What one chunk step reads from Redis: the largest chunk message seen waiting in the
    # owner's list, plus the job fields a step reads (``jobs.store.STEP_FIELDS``).
    step_message_bytes: int
    step_fields_bytes: int

    @property
    def step_read_bytes(self) -> int:
        """Bytes of Redis one chunk step reads besides its counters (constant per job)."""
        return self.step_message_bytes + self.step_fields_bytes

    @property
    def rate(self) -> float:
        """Rows per second, submission to success."""
        return self.rows / self.seconds

    def __str__(self) -> str:
        return (
            f"{self.rows:,} rows in {self.files} files, {self.chunks} chunks: "
            f"{self.seconds:.1f} s ({self.rate:,.0f} rows/s), first progress after "
            f"{self.first_progress_seconds:.2f} s, finalize {self.finalize_seconds:.2f} s, "
            f"worker peak PSS {self.worker_peak_pss_mb:.0f} MB, Redis: job "
            f"{self.redis_job_bytes:,} B ({self.redis_job_bytes / self.chunks:.0f} B/chunk), "
            f"queues {self.redis_queue_bytes:,} B, used_memory +{self.redis_used_delta_bytes:,} B, "
            f"read by each step {self.step_read_bytes:,} B"
        )


def run_multifile(
    *, work: Path, tracking_uri: str, rows: int, small_rows: int, workers: int, sampler: Any
) -> dict[str, Any]:
    """Both runs and the projection, as the results file's figures."""
    blobs = work / "pointer-blobs"
    big = make_parquet_files(blobs, f"inputs/bench/rows-{rows}/", rows)
    small = make_parquet_files(blobs, f"inputs/bench/rows-{small_rows}/", small_rows)
    warm = make_parquet_files(blobs, "inputs/bench/warm/", 20_000, rows_per_file=10_000)
    env = {"HPP_MLFLOW_TRACKING_URI": tracking_uri, "HPP_CHUNK_ROWS": str(ROW_GROUP_ROWS)}
    runs = {}
    for label, folder in (("small", small), ("big", big)):
        runs[label] = run_pointer_job(
            blobs, folder, warm, workers=workers, env=env, work=work, sampler=sampler
        )
        print(f"{label}: {runs[label]}", flush=True)
    big_run, small_run = runs["big"], runs["small"]
    per_worker = big_run.rate / workers
    return {
        "workers": workers,
        "big": _figures(big_run),
        "small": _figures(small_run),
        "memory_ratio": big_run.worker_peak_pss_mb / small_run.worker_peak_pss_mb,
        "per_worker_rows_per_s": per_worker,
        "prices": {
            "region": "us-east-1",
            "vcpu_hour": FARGATE_VCPU_HOUR,
            "gb_hour": FARGATE_GB_HOUR,
            "worker_vcpu": WORKER_VCPU,
            "worker_gb": WORKER_GB,
        },
        "projection": project(big_run, per_worker),
    }


def _figures(run: MultiRun) -> dict[str, Any]:
    return {**asdict(run), "rows_per_s": run.rate, "step_read_bytes": run.step_read_bytes}


def project(run: MultiRun, per_worker: float) -> dict[str, Any]:
    """Time and cost per size and fleet, and where the first limits bend."""
    task_hour = WORKER_VCPU * FARGATE_VCPU_HOUR + WORKER_GB * FARGATE_GB_HOUR
    finalize_per_chunk = run.finalize_seconds / run.chunks
    rows_per_chunk = run.rows / run.chunks
    table = []
    for rows in TABLE_ROWS:
        chunks = rows / rows_per_chunk
        for workers in TABLE_WORKERS:
            scoring = rows / (per_worker * workers)
            finalize = finalize_per_chunk * chunks
            seconds = run.first_progress_seconds + scoring + finalize
            chunk_rate = workers * per_worker / rows_per_chunk  # chunks finished per second
            table.append(
                {
                    "rows": rows,
                    "workers": workers,
                    "seconds": seconds,
                    "finalize_seconds": finalize,
                    "cost_usd": workers * seconds / 3600 * task_hour,
                    "s3_puts_per_s": chunk_rate * S3_PUTS_PER_CHUNK,
                    "s3_gets_per_s": chunk_rate * S3_GETS_PER_CHUNK,
                    "redis_job_mb": run.redis_job_bytes / run.chunks * chunks / 1e6,
                    # A step's message and fields: the same for any number of chunks.
                    "step_read_mb": run.step_read_bytes / 1e6,
                }
            )
    return {"task_hour_usd": task_hour, "rows_per_chunk": rows_per_chunk, "table": table}


def make_parquet_files(
    blobs: Path, folder: str, rows: int, *, rows_per_file: int = ROWS_PER_FILE
) -> str:
    """``rows`` plausible houses as Parquet files of ``rows_per_file`` (kept for reuse)."""
    target = blobs / folder
    files = -(-rows // rows_per_file)
    if target.is_dir() and len(list(target.glob("*.parquet"))) == files:
        return folder
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    for number in range(files):
        n = min(rows_per_file, rows - number * rows_per_file)
        sqft = rng.integers(500, 4000, n)
        sqft[rng.random(n) < 0.001] = -1
        table = pa.table(
            {
                "sqft": sqft,
                "bedrooms": rng.integers(1, 6, n),
                "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n),
                "location": rng.choice(LOCATIONS, n),
                "year_built": rng.integers(1900, 2021, n),
                "condition": rng.choice(CONDITIONS, n),
            }
        )
        pq.write_table(table, target / f"part-{number:04d}.parquet", row_group_size=ROW_GROUP_ROWS)
    return folder


def run_pointer_job(
    blobs: Path,
    folder: str,
    warm: str,
    *,
    workers: int,
    env: dict[str, str],
    work: Path,
    sampler: Any,
) -> MultiRun:
    """Redis, a gateway and ``workers`` workers on ``blobs``; one pointer job of ``folder``."""
    with embedded_redis() as redis_url:
        port = free_port()
        environ = {
            **os.environ,
            "HPP_REDIS_URL": redis_url,
            "HPP_BLOB_URL": blobs.as_uri(),
            "HPP_PORT": str(port),
            "HPP_API_KEYS": json.dumps({"bench": hash_api_key(KEY)}),
            "HPP_INPUT_PREFIXES": json.dumps({"bench": ["inputs/bench/"]}),
            "HPP_MODEL_POLL_SECONDS": "0",
            "HPP_LOG_LEVEL": "WARNING",
            **env,
        }
        processes = [_spawn("gateway", environ, work)]
        processes += [_spawn("worker", environ, work) for _ in range(workers)]
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url)
            with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=600) as http:
                for _ in range(workers * 2):  # every worker loads the model first
                    _wait_final(http, http.post("/v1/jobs", json={"input": warm}).json()["id"])
                memory = sampler([p.pid for p in processes[1:]])
                memory.start()
                used_before = int(client.info("memory")["used_memory"])
                started = time.perf_counter()
                job = http.post("/v1/jobs", json={"input": folder}).json()
                watch = _FirstProgress(url, job["id"], started)
                watch.start()
                bookkeeping = _RedisSampler(client, job["id"], used_before)
                bookkeeping.start()
                final, all_counted = _wait_final(http, job["id"], started=started)
                seconds = time.perf_counter() - started
                memory.stop()
                bookkeeping.stop()
                watch.join(timeout=5)
            if final["status"] != "succeeded":
                raise RuntimeError(f"job did not succeed: {final}")
            return MultiRun(
                files=final["input_files"],
                rows=final["rows_done"],
                chunks=bookkeeping.chunks,
                seconds=seconds,
                first_progress_seconds=watch.seconds or float("nan"),
                finalize_seconds=seconds - (all_counted or seconds),
                worker_peak_pss_mb=memory.peak_mb,
                redis_job_bytes=bookkeeping.job_peak,
                redis_queue_bytes=bookkeeping.queue_peak,
                redis_used_delta_bytes=bookkeeping.used_peak - used_before,
                step_message_bytes=bookkeeping.message_bytes,
                step_fields_bytes=bookkeeping.fields_bytes,
            )
        finally:
            client.close()
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)


class _FirstProgress(threading.Thread):
    """Seconds from submission to the first ``progress`` event with rows done."""

    def __init__(self, url: str, job_id: str, started: float) -> None:
        super().__init__(daemon=True)
        self.url, self.job_id, self.started = url, job_id, started
        self.seconds: float | None = None

    def run(self) -> None:
        headers = {"X-API-Key": KEY}
        with httpx.stream(
            "GET", f"{self.url}/v1/jobs/{self.job_id}/events", headers=headers, timeout=None
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data:") and json.loads(line[5:]).get("rows_done"):
                    self.seconds = time.perf_counter() - self.started
                    return


class _RedisSampler(threading.Thread):
    """Peak Redis memory of one job's keys, of the step queues, and of the whole server."""

    def __init__(self, client: redis.Redis, job_id: str, used_before: int) -> None:
        super().__init__(daemon=True)
        self.client, self.job_id = client, job_id
        self.job_peak = self.queue_peak = self.chunks = 0
        self.message_bytes = self.fields_bytes = 0
        self.used_peak = used_before
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        owner = fair_owner_queue_key("bench")
        queues = [owner, QUEUE, "unacked", "unacked_index"]  # kombu's
        while not self._done.is_set():
            job = sum(self._usage(key) for key in job_keys(self.job_id))
            self.job_peak = max(self.job_peak, job)
            self.queue_peak = max(self.queue_peak, sum(self._usage(k) for k in queues))
            used = int(self.client.info("memory")["used_memory"])
            self.used_peak = max(self.used_peak, used)
            message = self.client.lindex(owner, -1)  # the last chunk's: the longest numbers
            self.message_bytes = max(self.message_bytes, len(str(message or "").encode()))
            fields = self.client.hmget(job_key(self.job_id), STEP_FIELDS)
            read = sum(
                len(name) + len(str(value).encode())
                for name, value in zip(STEP_FIELDS, fields, strict=True)
                if value is not None
            )
            self.fields_bytes = max(self.fields_bytes, read)
            chunks = self.client.hget(job_key(self.job_id), "chunks_total")
            self.chunks = max(self.chunks, int(chunks or 0))
            self._done.wait(1.0)

    def _usage(self, key: str) -> int:
        return int(self.client.memory_usage(key, samples=0) or 0)


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
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gateway not ready")


def _wait_final(
    http: httpx.Client, job_id: str, *, started: float | None = None
) -> tuple[dict[str, Any], float | None]:
    """The final job, and when (after ``started``) every row was counted."""
    counted: float | None = None
    while True:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        total = job["rows_total"]
        if counted is None and started is not None and total and job["rows_done"] >= total:
            counted = time.perf_counter() - started
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job, counted
        time.sleep(0.1)
