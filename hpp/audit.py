"""``hpp audit verify`` and ``hpp audit backtest``, wired to the settings."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from audit.backtest import backtest, logged_rows, report_lines
from audit.store import AuditStore, open_audit_store
from audit.verify import VerifyReport, verify_store
from core.settings import AppSettings
from workers.audit_rows import chunk_rows


def run_verify(settings: AppSettings, *, url: str | None = None) -> int:
    """Print the verification of every stream; 0 when intact, 1 when tampered."""
    report = asyncio.run(_verify(settings, url))
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def run_backtest(
    settings: AppSettings,
    *,
    sample: int,
    seed: int | None,
    out: Path | None,
    url: str | None = None,
) -> int:
    """Print the back-test table and write it as JSON; 1 when no actual prices are known."""
    report = asyncio.run(_backtest(settings, sample=sample, seed=seed, url=url))
    print("\n".join(report_lines(report)))
    print(f"audit trail: {'intact' if report['chain_intact'] else 'TAMPERED (hpp audit verify)'}")
    path = out or settings.core.state_dir / "reports" / f"audit-backtest-{int(time.time())}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"report: {path}")
    return 0 if report["sampled"] else 1


async def _verify(settings: AppSettings, url: str | None) -> VerifyReport:
    store = _store(settings, url)
    try:
        return await verify_store(store, key=settings.core.audit_key_bytes())
    finally:
        await store.aclose()


async def _backtest(
    settings: AppSettings, *, sample: int, seed: int | None, url: str | None
) -> dict[str, Any]:
    store = _store(settings, url)
    try:
        verdict = await verify_store(store, key=settings.core.audit_key_bytes())
        rows = await logged_rows(store, chunk_rows=chunk_rows)
    finally:
        await store.aclose()
    report = backtest(rows, await _actual_prices(settings), sample=sample, seed=seed)
    return {**report, "chain_intact": verdict.ok}


def _store(settings: AppSettings, url: str | None) -> AuditStore:
    core = settings.core
    return open_audit_store(url or core.resolved_audit_url(), key=core.audit_key_bytes())


async def _actual_prices(settings: AppSettings) -> dict[str, float]:
    """The actual prices reported through POST /v1/feedback (kept in Redis)."""
    core = settings.core
    if not core.redis_url:
        raise SystemExit("HPP_REDIS_URL is not set: feedback (actual prices) lives in Redis")
    from redis.asyncio import Redis

    from gateway.monitoring_store import MonitoringStore

    client = Redis.from_url(core.redis_url, socket_timeout=10)
    try:
        store = MonitoringStore(
            client,
            ttl_seconds=core.prediction_ttl_seconds,
            max_predictions=core.prediction_log_max,
            feedback_window=core.feedback_window,
            drift_window=core.drift_window,
        )
        return await store.actual_prices()
    finally:
        await client.aclose()
