"""Soak: minutes of mixed load against the whole system started by ``hpp up``; not a test.

Single predictions at a steady rate plus back-to-back 100k-row batch jobs (two at a
time), against real processes: ``hpp up`` (embedded Redis, worker, gateway, UI) in a
temporary state folder, using an existing model registry (``--tracking-uri``, default
the repository's ``.hpp/mlflow.db``; without a champion there, ``hpp up`` trains one).
Reports errors (anything but a 200 prediction or a succeeded job with every row), the
p50/p99 of single predictions, jobs and rows scored, and the RSS of every process after
a warm-up and at the end (growth in %).

    .venv/bin/python bench/soak.py                 # 5 minutes
    .venv/bin/python bench/soak.py --minutes 2.5 --rate 50 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from results import write_result

from ml.contract import EXAMPLE_HOUSE

ROOT = Path(__file__).resolve().parents[1]
HEADER = "sqft,bedrooms,bathrooms,location,year_built,condition"
LOCATIONS = ("North Ames", "College Creek", "Old Town", "Edwards", "Somerset")
HOUSE = dict(EXAMPLE_HOUSE)


@dataclass
class Tally:
    """What the load threads saw."""

    latencies_ms: list[float] = field(default_factory=list)
    prediction_errors: list[str] = field(default_factory=list)
    jobs: int = 0
    rows: int = 0
    job_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def main() -> int:
    """Start the system, load it, report."""
    args = _parse()
    with tempfile.TemporaryDirectory(prefix="hpp-soak-") as folder:
        state = Path(folder)
        port, ui_port = _free_port(), _free_port()
        up = _start_up(state, port=port, ui_port=ui_port, tracking_uri=args.tracking_uri)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, up)
            key = json.loads((state / "api-keys.json").read_text())["local"]
            report = _soak(url, key, up, args)
        finally:
            _stop(up)
    _print(report)
    parameters = {k: v for k, v in vars(args).items() if k not in {"json", "tracking_uri", "note"}}
    write_result("soak", parameters=parameters, figures=report, note=args.note)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if report["errors"] == 0 else 1


def _soak(url: str, key: str, up: subprocess.Popen[bytes], args: argparse.Namespace) -> dict:
    tally = Tally()
    stop = threading.Event()
    data = _houses(args.job_rows)
    threads = [threading.Thread(target=_predict_loop, args=(url, key, args.rate, tally, stop))]
    threads += [
        threading.Thread(target=_job_loop, args=(url, key, data, args.job_rows, tally, stop))
        for _ in range(args.concurrent_jobs)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(min(args.warmup, args.minutes * 60 / 3))
    before = _rss(up)
    time.sleep(max(0.0, args.minutes * 60 - (time.monotonic() - started)))
    after = _rss(up)
    stop.set()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.monotonic() - started
    latencies = sorted(tally.latencies_ms)
    processes = {
        name: {
            "rss_mb_after_warmup": round(before[name] / 2**20, 1),
            "rss_mb_end": round(after[name] / 2**20, 1),
            "growth_percent": round(100 * (after[name] - before[name]) / before[name], 1),
        }
        for name in sorted(before.keys() & after.keys())
    }
    return {
        "seconds": round(elapsed, 1),
        "predictions": len(latencies),
        "prediction_rate_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "jobs": tally.jobs,
        "rows_scored": tally.rows,
        "errors": len(tally.prediction_errors) + len(tally.job_errors),
        "error_samples": (tally.prediction_errors + tally.job_errors)[:10],
        "processes": processes,
    }


def _predict_loop(url: str, key: str, rate: float, tally: Tally, stop: threading.Event) -> None:
    interval = 1.0 / rate
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        next_at = time.monotonic()
        while not stop.is_set():
            house = {**HOUSE, "sqft": random.randint(600, 3500)}
            started = time.perf_counter()
            try:
                response = http.post("/v1/predict", json=house)
                ok = response.status_code == 200 and response.json()["predicted_price"] > 0
                error = None if ok else f"predict {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"predict {type(exc).__name__}: {exc}"
            elapsed_ms = (time.perf_counter() - started) * 1e3
            with tally.lock:
                tally.latencies_ms.append(elapsed_ms)
                if error:
                    tally.prediction_errors.append(error)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def _job_loop(
    url: str, key: str, data: bytes, rows: int, tally: Tally, stop: threading.Event
) -> None:
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        while not stop.is_set():
            try:
                error = _one_job(http, data, rows)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                error = f"job {type(exc).__name__}: {exc}"
            with tally.lock:
                if error:
                    tally.job_errors.append(error)
                else:
                    tally.jobs += 1
                    tally.rows += rows


def _one_job(http: httpx.Client, data: bytes, rows: int) -> str | None:
    response = http.post("/v1/jobs", content=data, headers={"Content-Type": "text/csv"})
    if response.status_code != 202:
        return f"submit {response.status_code}: {response.text[:200]}"
    job_id = response.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            break
        time.sleep(0.5)
    if job["status"] != "succeeded":
        return f"job {job_id} {job['status']}: {job.get('error')}"
    result = http.get(f"/v1/jobs/{job_id}/result")
    lines = result.content.count(b"\n") - 1
    http.delete(f"/v1/jobs/{job_id}")  # keep the disk flat over a long soak
    return None if lines == rows else f"job {job_id}: {lines} rows in the result, not {rows}"


def _houses(rows: int) -> bytes:
    rng = random.Random(1)
    lines = [HEADER]
    lines += [
        f"{rng.randint(600, 3500)},{rng.randint(1, 5)},{rng.choice((1, 1.5, 2))},"
        f"{rng.choice(LOCATIONS)},{rng.randint(1900, 2020)},Average"
        for _ in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _rss(up: subprocess.Popen[bytes]) -> dict[str, int]:
    """RSS of ``hpp up`` and every descendant, keyed by a readable name."""
    parent = psutil.Process(up.pid)
    found: dict[str, int] = {"hpp up": parent.memory_info().rss}
    for child in parent.children(recursive=True):
        try:
            name = _name(child)
            found[f"{name} ({child.pid})"] = child.memory_info().rss
        except psutil.Error:
            continue
    return found


def _name(process: psutil.Process) -> str:
    command = process.cmdline()
    if any("redis-server" in part for part in command):
        return "redis-server"
    if "hpp.cli" in command:
        name = command[command.index("hpp.cli") + 1]
        return f"{name} (pool child)" if process.parent().cmdline() == command else name
    return " ".join(command)[:40]


def _start_up(
    state: Path, *, port: int, ui_port: int, tracking_uri: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HPP_STATE_DIR": str(state),
        "HPP_PORT": str(port),
        "HPP_UI_PORT": str(ui_port),
        "HPP_MLFLOW_TRACKING_URI": tracking_uri,
        "HPP_LOG_LEVEL": "WARNING",
        "HPP_MODEL_POLL_SECONDS": "0",
    }
    env.pop("HPP_REDIS_URL", None)
    log = (state / "up.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "hpp.cli", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(url: str, up: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise SystemExit(f"hpp up exited with {up.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                time.sleep(5)  # let the worker finish loading its model too
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("hpp up was not ready in 300 s")


def _stop(up: subprocess.Popen[bytes]) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)  # Ctrl-C: hpp up stops its children cleanly
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _print(report: dict) -> None:
    print(
        f"soak {report['seconds']}s: {report['predictions']} predictions "
        f"({report['prediction_rate_per_s']}/s) p50 {report['p50_ms']} ms "
        f"p99 {report['p99_ms']} ms "
        f"max {report['max_ms']} ms; {report['jobs']} jobs, {report['rows_scored']:,} rows; "
        f"errors {report['errors']} {report['error_samples']}"
    )
    for name, figures in report["processes"].items():
        print(
            f"  {name:40s} RSS {figures['rss_mb_after_warmup']:8.1f} MB -> "
            f"{figures['rss_mb_end']:8.1f} MB ({figures['growth_percent']:+.1f} %)"
        )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0, help="single predictions per second")
    parser.add_argument("--job-rows", type=int, default=100_000)
    parser.add_argument("--concurrent-jobs", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS baseline")
    parser.add_argument(
        "--tracking-uri", default=f"sqlite:///{ROOT / '.hpp' / 'mlflow.db'}", help="MLflow store"
    )
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--note", default="", help="a remark kept with bench/results/soak.json")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
