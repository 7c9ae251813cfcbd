"""Load benchmark (not a test): our /v1/predict against a bare FastAPI floor and MLflow's server.

Runs, one after another on this machine, with the same uvicorn settings and the same
one-row body, ``wrk`` at 32 connections for ``--seconds`` each:

  (a) bare     a FastAPI endpoint that validates HouseFeatures and returns a constant
  (b) gateway  ``hpp gateway``'s POST /v1/predict (auth, limits, metrics, logs, the model)
  (c) mlflow   ``mlflow models serve --env-manager local`` of the same registered version

and, with a challenger (the store's ``challenger`` alias, or ``--challenger``), three more
gateways over an embedded Redis (predictions kept for feedback), each request acting for
one of ``--users`` end users in turn (``X-On-Behalf-Of``):

  (d) plain    HPP_CHALLENGER_MODE=off: the champion alone
  (e) shadow   the champion answers; the challenger prices every house after the response
  (f) ab       a sticky ``--ab-weight`` share of users is answered by the challenger, the
               other version is scored in shadow

and, for the rate limit (``--servers bare,gateway,limit-local,limit-cluster --results
gateway_limits``), two gateways over the same embedded Redis that differ only in the limiter:

  (g) limit-local    HPP_RATE_LIMIT_BACKEND=local: today's in-process token bucket
  (h) limit-cluster  HPP_RATE_LIMIT_BACKEND=redis: one bucket in Redis for all processes,
                     leased as many tokens per round trip as 0.1 s of the traffic spends

and prints requests/s, p50 and p99 for each, with the ratios the issues target
(shadow and ab within 10 % of plain; the cluster limiter's share of the bare floor at or
above the in-process one's). Needs ``wrk`` (Debian package) and a registered
model (``hpp train``, or ``--tracking-uri``).

    .venv/bin/python bench/gateway_load.py [--seconds 20] [--workers 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from results import write_result

from hpp.redis_server import embedded_redis
from ml.contract import EXAMPLE_HOUSE

ROOT = Path(__file__).resolve().parents[1]
BENCH_KEY = "bench-key-not-a-secret"
HOUSE = dict(EXAMPLE_HOUSE)
BARE_APP = """
from fastapi import FastAPI
from ml.contract import HouseFeatures

app = FastAPI()

@app.post("/v1/predict")
async def predict(features: HouseFeatures) -> dict:
    return {"predicted_price": 123456.0, "model_version": "constant"}

@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
"""


@dataclass(frozen=True)
class Result:
    """One wrk run."""

    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def main() -> int:
    """Run the three servers in turn under wrk and print the table."""
    args = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    tracking_uri, version = locate_model(args)
    print(f"model: models:/{args.model}/{version} from {tracking_uri}")
    trial = wanted_trial(args, tracking_uri, version)
    if trial:
        print(f"challenger: models:/{args.model}/{args.challenger} ({', '.join(trial)})")
    print(
        f"wrk: {args.connections} connections, {args.threads} threads, {args.seconds} s, "
        f"{args.repeat} repetition(s); servers: {args.workers} uvicorn worker(s) each\n"
    )
    servers = {
        "bare": lambda port: bare_server(port, args.workers),
        "gateway": lambda port: gateway_server(port, args.workers, tracking_uri, args.model),
        "mlflow": lambda port: mlflow_server(port, args.workers, tracking_uri, args.model, version),
    }
    servers = {name: start for name, start in servers.items() if name in args.servers}
    limits = [name for name in LIMIT_MODES if name in args.servers]
    runs: dict[str, list[Result]] = {name: [] for name in [*servers, *limits, *trial]}
    cpu_us: dict[str, list[float]] = {name: [] for name in runs}
    single_p50: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(embedded_redis()) if trial or limits else ""
        for name in limits:
            servers[name] = partial(
                limit_server,
                backend=LIMIT_MODES[name],
                redis_url=redis_url,
                args=args,
                tracking_uri=tracking_uri,
            )
        for name in trial:
            servers[name] = partial(
                trial_server,
                mode=TRIAL_MODES[name],
                redis_url=redis_url,
                args=args,
                tracking_uri=tracking_uri,
            )
        for round_ in range(args.repeat):
            # Rounds interleave the servers, so a noisy neighbour hits them all alike.
            for name, start in servers.items():
                port = free_port()
                with start(port) as (path, body, headers):
                    url = f"http://127.0.0.1:{port}{path}"
                    users = args.users if name in trial else 0
                    check_answer(url, body, headers)
                    run_wrk(
                        url,
                        body,
                        headers,
                        seconds=2,
                        connections=args.connections,
                        threads=1,
                        users=users,
                    )
                    if round_ == 0:
                        # One connection cannot saturate the server: a p50 near 40 ms here
                        # is the delayed-ACK stall (TCP_NODELAY missing), not queueing.
                        single = run_wrk(
                            url, body, headers, seconds=3, connections=1, threads=1, users=users
                        )
                        single_p50[name] = single.p50_ms
                    before = cpu_and_houses(port) if name in GATEWAYS else None
                    result = run_wrk(
                        url,
                        body,
                        headers,
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=args.threads,
                        name=name,
                        users=users,
                    )
                    if before is not None:
                        time.sleep(1)  # the last shadow flush
                        after = cpu_and_houses(port)
                        houses = max(after[1] - before[1], 1.0)
                        cpu_us[name].append((after[0] - before[0]) / houses * 1e6)
                    runs[name].append(result)
                    print(
                        f"  {name:8s} {result.requests_per_second:9.0f} req/s  "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"non-2xx {result.non_2xx}  socket errors {result.errors}"
                    )
                    if name in trial:  # proof the shadow work was done, not skipped
                        print(f"           {served_counts(port)}")
        limiter_cost = measure_limiters(redis_url) if limits else {}
    medians = {name: median(results) for name, results in runs.items()}
    print_table(medians, single_p50)
    print_trial_ratios(runs)
    print_limit_ratios(runs, cpu_us)
    if limiter_cost:
        print(
            "limiter alone, CPU per request (32 at a time, same Redis): "
            + f"limit-local {limiter_cost['limit-local']:.1f} us, "
            + f"limit-cluster {limiter_cost['limit-cluster']:.1f} us "
            + f"(a Redis round trip per {limiter_cost['requests_per_round_trip']:,.0f} requests)"
        )
    print_cpu(cpu_us)
    write_result(
        args.results,
        parameters={k: v for k, v in vars(args).items() if k not in {"tracking_uri", "note"}},
        figures={
            name: {
                "requests_per_second": result.requests_per_second,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "non_2xx": result.non_2xx + result.errors,
                "one_connection_p50_ms": single_p50[name],
                "per_round_requests_per_second": [r.requests_per_second for r in runs[name]],
                "cpu_us_per_request": sorted(cpu_us[name])[len(cpu_us[name]) // 2]
                if cpu_us[name]
                else None,
            }
            for name, result in medians.items()
        }
        | ({"limiter_cpu_us": limiter_cost} if limiter_cost else {}),
        note=args.note,
    )
    return 0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--repeat", type=int, default=1, help="runs per server (median shown)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: .hpp/)")
    parser.add_argument("--model", default="house-price")
    parser.add_argument("--note", default="", help="a remark kept with the results file")
    parser.add_argument("--version", default=None, help="registered version (default champion)")
    parser.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        default=["bare", "gateway", "mlflow", *TRIAL_MODES],
        help="comma-separated subset of bare,gateway,mlflow,plain,shadow,ab,"
        "limit-local,limit-cluster",
    )
    parser.add_argument(
        "--results", default="gateway_load", help="name of the bench/results/*.json file"
    )
    parser.add_argument(
        "--challenger", default=None, help="challenger version (default: the challenger alias)"
    )
    parser.add_argument("--ab-weight", type=float, default=0.5, help="challenger share in ab")
    parser.add_argument("--users", type=int, default=1000, help="end users the requests rotate")
    return parser.parse_args()


TRIAL_MODES = {"plain": "off", "shadow": "shadow", "ab": "ab"}
LIMIT_MODES = {"limit-local": "local", "limit-cluster": "redis"}


def wanted_trial(args: argparse.Namespace, tracking_uri: str, champion: str) -> list[str]:
    """The plain/shadow/ab rows to run: those asked for, when there is a challenger."""
    from ml.registry import CHALLENGER, resolve_alias

    wanted = [name for name in TRIAL_MODES if name in args.servers]
    if not wanted:
        return []
    args.challenger = args.challenger or resolve_alias(
        tracking_uri=tracking_uri, name=args.model, alias=CHALLENGER
    )
    if args.challenger is None or args.challenger == champion:
        print(
            "no challenger (set the alias, or --challenger VERSION): skipping plain/shadow/ab",
            file=sys.stderr,
        )
        return []
    return wanted


def locate_model(args: argparse.Namespace) -> tuple[str, str]:
    """The tracking URI and version to serve: the champion of the local store by default."""
    from core.settings import CoreSettings
    from ml.registry import resolve_alias

    tracking_uri = args.tracking_uri or CoreSettings().resolved_tracking_uri()
    version = args.version or resolve_alias(
        tracking_uri=tracking_uri, name=args.model, alias="champion"
    )
    if version is None:
        raise SystemExit(f"no champion of {args.model!r} in {tracking_uri}: run `hpp train` first")
    return tracking_uri, version


Served = Iterator[tuple[str, bytes, dict[str, str]]]


@contextmanager
def bare_server(port: int, workers: int) -> Served:
    """The floor: uvicorn with our protocol settings and a validate-and-return-constant app."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "bare_app.py").write_text(BARE_APP)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--http",
            "gateway.connections:GuardedHttpProtocol",
            "--no-server-header",
        ]
        env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}"}
        with process(command, env, f"http://127.0.0.1:{port}/healthz"):
            yield "/v1/predict", json.dumps(HOUSE).encode(), {"Content-Type": "application/json"}


@contextmanager
def gateway_server(port: int, workers: int, tracking_uri: str, model: str) -> Served:
    """``hpp gateway`` as deployed: keys, rate limits, metrics, request logs (to a file)."""
    from core.settings import hash_api_key

    env = {
        **os.environ,
        "HPP_HOST": "127.0.0.1",
        "HPP_PORT": str(port),
        "HPP_WEB_WORKERS": str(workers),
        "HPP_API_KEYS": json.dumps({"bench": hash_api_key(BENCH_KEY)}),
        "HPP_RATE_LIMIT_PER_MINUTE": str(10**9),
        "HPP_MLFLOW_TRACKING_URI": tracking_uri,
        "HPP_REGISTERED_MODEL": model,
        "HPP_LOG_FORMAT": "json",
    }
    env.pop("HPP_REDIS_URL", None)
    command = [sys.executable, "-m", "hpp.cli", "gateway"]
    with process(command, env, f"http://127.0.0.1:{port}/readyz"):
        headers = {"Content-Type": "application/json", "X-API-Key": BENCH_KEY}
        yield "/v1/predict", json.dumps(HOUSE).encode(), headers


@contextmanager
def trial_server(
    port: int, *, mode: str, redis_url: str, args: argparse.Namespace, tracking_uri: str
) -> Served:
    """``hpp gateway`` over Redis with a challenger, in one of the modes; the key may act for
    end users (each request names one, so the A/B split sees many callers)."""
    from core.settings import hash_api_key
    from ml.registry import CHALLENGER, resolve_alias, set_alias

    current = resolve_alias(tracking_uri=tracking_uri, name=args.model, alias=CHALLENGER)
    if current != args.challenger:
        set_alias(
            tracking_uri=tracking_uri, name=args.model, alias=CHALLENGER, version=args.challenger
        )
    env = {
        **os.environ,
        "HPP_HOST": "127.0.0.1",
        "HPP_PORT": str(port),
        "HPP_WEB_WORKERS": str(args.workers),
        "HPP_API_KEYS": json.dumps({"bench": hash_api_key(BENCH_KEY)}),
        "HPP_DELEGATE_KEY_NAMES": '["bench"]',
        "HPP_RATE_LIMIT_PER_MINUTE": str(10**9),
        "HPP_RATE_LIMIT_PER_END_USER_PER_MINUTE": str(10**9),
        "HPP_MLFLOW_TRACKING_URI": tracking_uri,
        "HPP_REGISTERED_MODEL": args.model,
        "HPP_REDIS_URL": redis_url,
        "HPP_CHALLENGER_MODE": mode,
        "HPP_AB_CHALLENGER_WEIGHT": str(args.ab_weight),
        "HPP_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "hpp.cli", "gateway"]
    with process(command, env, f"http://127.0.0.1:{port}/readyz"):
        headers = {"Content-Type": "application/json", "X-API-Key": BENCH_KEY}
        yield "/v1/predict", json.dumps(HOUSE).encode(), headers


@contextmanager
def limit_server(
    port: int, *, backend: str, redis_url: str, args: argparse.Namespace, tracking_uri: str
) -> Served:
    """``hpp gateway`` over Redis with the rate limit in the process or in Redis (leased)."""
    from core.settings import hash_api_key

    env = {
        **os.environ,
        "HPP_HOST": "127.0.0.1",
        "HPP_PORT": str(port),
        "HPP_WEB_WORKERS": str(args.workers),
        "HPP_API_KEYS": json.dumps({"bench": hash_api_key(BENCH_KEY)}),
        # High enough that no request is refused: the cost of counting, not of refusing.
        "HPP_RATE_LIMIT_PER_MINUTE": str(10**9),
        "HPP_RATE_LIMIT_BACKEND": backend,
        "HPP_MLFLOW_TRACKING_URI": tracking_uri,
        "HPP_REGISTERED_MODEL": args.model,
        "HPP_REDIS_URL": redis_url,
        "HPP_CHALLENGER_MODE": "off",
        "HPP_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "hpp.cli", "gateway"]
    with process(command, env, f"http://127.0.0.1:{port}/readyz"):
        headers = {"Content-Type": "application/json", "X-API-Key": BENCH_KEY}
        yield "/v1/predict", json.dumps(HOUSE).encode(), headers


@contextmanager
def mlflow_server(port: int, workers: int, tracking_uri: str, model: str, version: str) -> Served:
    """What users would pick instead: MLflow's own scoring server for the same version."""
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow),
        "models",
        "serve",
        "-m",
        f"models:/{model}/{version}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    # MLflow execs `uvicorn` by name: put this venv's bin first on PATH.
    path = f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    with process(command, env, f"http://127.0.0.1:{port}/ping", timeout=180):
        body = json.dumps({"dataframe_records": [HOUSE]}).encode()
        yield "/invocations", body, {"Content-Type": "application/json"}


@contextmanager
def process(
    command: list[str], env: dict[str, str], ready_url: str, timeout: float = 120
) -> Iterator[None]:
    """Run a server in its own process group until the block ends; wait for ``ready_url``."""
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(ready_url, proc, log.name, timeout)
        yield
    finally:
        stop(proc)
        log.close()
        os.unlink(log.name)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: str, timeout: float) -> None:
    """Poll until the server answers 200, or fail with the end of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{Path(log).read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"server not ready after {timeout} s:\n{Path(log).read_text()[-3000:]}")


def check_answer(url: str, body: bytes, headers: dict[str, str]) -> None:
    """One request by hand, so a wrong body cannot be benchmarked as fast errors."""
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:300]}")


def run_wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    seconds: int,
    connections: int,
    threads: int,
    name: str = "warmup",
    users: int = 0,
) -> Result:
    """One wrk run with a POST body; parses throughput, latency percentiles and errors.

    With ``users``, each request acts for the next of that many end users (X-On-Behalf-Of).
    """
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if users:
        lines += [
            "local n = 0",
            "request = function()",
            "  n = n + 1",
            f'  wrk.headers["X-On-Behalf-Of"] = "user-" .. (n % {users})',
            "  return wrk.format()",
            "end",
        ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        completed = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    return parse_wrk(name, completed.stdout)


def parse_wrk(name: str, output: str) -> Result:
    """Requests/s, p50, p99, non-2xx and socket errors from wrk's report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _latency(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _latency(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Result(
        name=name,
        requests_per_second=rps,
        p50_ms=p50,
        p99_ms=p99,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def _latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def median(results: list[Result]) -> Result:
    """The run with the median throughput (its own latencies kept together)."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def print_table(results: dict[str, Result], single_p50: dict[str, float]) -> None:
    """The side-by-side table, the ratios and the targets."""
    print("\n| server | req/s | p50 ms | p99 ms | errors | p50 ms, 1 connection |")
    print("|---|---:|---:|---:|---:|---:|")
    for result in results.values():
        print(
            f"| {result.name} | {result.requests_per_second:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.non_2xx + result.errors} | "
            f"{single_p50[result.name]:.2f} |"
        )
    if set(results) != {"bare", "gateway", "mlflow"}:
        return
    ours, bare, mlflow = results["gateway"], results["bare"], results["mlflow"]
    vs_mlflow = ours.requests_per_second / mlflow.requests_per_second
    vs_bare = ours.requests_per_second / bare.requests_per_second
    print(f"\ngateway / mlflow req/s: {vs_mlflow:.1f}x (target >= 15x)")
    print(f"gateway / bare   req/s: {vs_bare:.0%} (target >= 50%)")
    print(f"gateway p99: {ours.p99_ms:.2f} ms (target < 25 ms)")
    stalled = [name for name, p50 in single_p50.items() if p50 >= 35]
    if stalled:
        print(f"WARNING: 1-connection p50 >= 35 ms (delayed-ACK stall, no TCP_NODELAY?): {stalled}")


GATEWAYS = ("gateway", *TRIAL_MODES, *LIMIT_MODES)


def cpu_and_houses(port: int) -> tuple[float, float]:
    """The gateway process's CPU seconds and houses priced so far (from its /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    cpu = houses = 0.0
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            cpu = float(line.split()[1])
        elif line.startswith("predictions_total{"):
            houses += float(line.rsplit(" ", 1)[1])
    return cpu, houses


def print_cpu(cpu_us: dict[str, list[float]]) -> None:
    """CPU per house: far less sensitive to a busy machine than requests per second."""
    measured = {name: sorted(v)[len(v) // 2] for name, v in cpu_us.items() if v}
    if not measured:
        return
    print("\ngateway CPU per request (median of rounds; includes shadow work after responses):")
    for name, value in measured.items():
        print(f"  {name:8s} {value:7.0f} us")
    plain = measured.get("plain")
    for name in ("shadow", "ab"):
        if plain and name in measured:
            print(f"{name:6s} / plain CPU per request: {measured[name] / plain:.2f}x")


def served_counts(port: int) -> str:
    """Houses answered per arm and scored in shadow so far, from the gateway's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        for metric in ("arm_predictions_total", "shadow_predictions_total"):
            if line.startswith(metric + "{"):
                label = metric if metric.startswith("shadow") else line.split('arm="')[1][:10]
                key = label.split('"')[0]
                totals[key] = totals.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{k} {v:,.0f}" for k, v in sorted(totals.items()))


def print_trial_ratios(runs: dict[str, list[Result]]) -> None:
    """Shadow and A/B against the plain gateway of the same rounds (target: within 10 %)."""
    if "plain" not in runs or not runs["plain"]:
        return
    for name in ("shadow", "ab"):
        if not runs.get(name):
            continue
        ratios = [
            r.requests_per_second / p.requests_per_second
            for r, p in zip(runs[name], runs["plain"], strict=True)
        ]
        ours, plain = median(runs[name]), median(runs["plain"])
        print(
            f"{name:6s} / plain req/s: {ours.requests_per_second / plain.requests_per_second:.0%} "
            f"of medians, per round {', '.join(f'{r:.0%}' for r in ratios)} (target >= 90%); "
            f"p99 {ours.p99_ms:.2f} ms vs {plain.p99_ms:.2f} ms"
        )


def print_limit_ratios(runs: dict[str, list[Result]], cpu_us: dict[str, list[float]]) -> None:
    """Each limiter's share of the bare floor, per round and of medians (same rounds)."""
    if not runs.get("bare"):
        return
    bare = median(runs["bare"])
    for name in ("gateway", *LIMIT_MODES):
        if not runs.get(name):
            continue
        shares = [
            r.requests_per_second / b.requests_per_second
            for r, b in zip(runs[name], runs["bare"], strict=True)
        ]
        ours = median(runs[name])
        print(
            f"{name:13s} / bare req/s: {ours.requests_per_second / bare.requests_per_second:.0%} "
            f"of medians, per round {', '.join(f'{s:.0%}' for s in shares)}"
        )
    if runs.get("limit-local") and runs.get("limit-cluster"):
        local, cluster = median(runs["limit-local"]), median(runs["limit-cluster"])
        print(
            f"limit-cluster / limit-local req/s: "
            f"{cluster.requests_per_second / local.requests_per_second:.0%} (target >= 100%)"
        )


def measure_limiters(redis_url: str, requests: int = 32_000) -> dict[str, float]:
    """CPU per request of each limiter alone (32 requests at a time, as wrk's connections):
    the in-process bucket and the cluster one with its default lease on this Redis; and the
    cluster limiter's requests per Redis round trip (``requests_per_round_trip``)."""
    import asyncio

    from redis.asyncio import Redis

    from gateway.cluster_limits import ClusterLimiter
    from gateway.ratelimit import RateLimiter

    async def cost(limiter: object) -> float:
        take = limiter.take  # type: ignore[attr-defined]
        for _ in range(100):
            await take("key:bench")
        began = time.process_time()
        for _ in range(requests // 32):
            await asyncio.gather(*(take("key:bench") for _ in range(32)))
        return (time.process_time() - began) / requests * 1e6

    async def both() -> dict[str, float]:
        client = Redis.from_url(redis_url)
        cluster = ClusterLimiter(client, 10**9)
        trips = [0]
        script = cluster._script

        async def counted(**kwargs: object) -> object:
            trips[0] += 1
            return await script(**kwargs)

        cluster._script = counted
        try:
            local = await cost(RateLimiter(10**9))
            spent = await cost(cluster)
            return {
                "limit-local": local,
                "limit-cluster": spent,
                "requests_per_round_trip": (requests + 100) / max(trips[0], 1),
            }
        finally:
            await cluster.aclose()
            await client.aclose()

    return asyncio.run(both())


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lua_string(text: str) -> str:
    """A Lua string literal (JSON is valid inside a long bracket string)."""
    return f"[==[{text}]==]"


if __name__ == "__main__":
    raise SystemExit(main())
