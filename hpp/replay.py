"""``hpp compare`` and ``hpp promote``: challenger replay and guarded promotion.

``compare`` re-scores a past job's input (from the blob store) or the champion's hold-out
(from its MLflow run) with the champion and a challenger version, and writes the diff
report as JSON and Markdown under ``<state_dir>/reports/`` (``latest.json`` is the newest;
with Redis it is also kept for the gateway's monitoring page). ``promote`` moves the
registry alias to a version only when the latest report for it keeps within the limits
of ``ml/config.yaml`` (``promotion:``), unless forced.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from core.settings import AppSettings
from jobs.keys import REPLAY_KEY, job_row_item, seen_key
from ml.config import PromotionLimits, load_config
from ml.contract import FEATURE_COLUMNS
from ml.replay import check_limits, compare, render_markdown

ACTUAL_COLUMNS = ("actual_price", "price", "actual")


def run_compare(
    *,
    challenger: str,
    job_id: str | None,
    champion: str | None,
    config: Path,
    out: Path | None,
    settings: AppSettings,
) -> int:
    """Re-score, diff, write the report; 0 when written (whatever it says), 1 on errors."""
    from ml.predict import Predictor
    from ml.registry import load_holdout, resolve_alias

    core = settings.core
    tracking_uri = core.resolved_tracking_uri()
    train_config = load_config(config)
    limits = train_config.promotion
    champion = champion or resolve_alias(
        tracking_uri=tracking_uri, name=core.registered_model, alias=core.model_alias
    )
    if champion is None:
        print(f"no version holds '{core.model_alias}': name one with --champion", file=sys.stderr)
        return 1
    if job_id:
        frame, source = _job_input(job_id, settings)
        if frame is None:
            print(f"job {job_id} not found (or its input has expired)", file=sys.stderr)
            return 1
    else:
        frame = load_holdout(
            tracking_uri=tracking_uri, name=core.registered_model, version=champion
        )
        source = {"kind": "hold-out", "model_version": champion}
    actual = _actuals(frame, job_id, settings)
    predictors = {
        version: Predictor.load(
            f"models:/{core.registered_model}/{version}", tracking_uri=tracking_uri
        )
        for version in (champion, challenger)
    }
    scored = {version: p.predict_frame(frame) for version, p in predictors.items()}
    from workers.lifecycle import challenger_drift

    # The same market drift the loop would judge this challenger against.
    drift = challenger_drift(
        settings,
        models=predictors.__getitem__,
        config=train_config,
        challenger=challenger,
        champion=champion,
    )
    report = compare(
        frame[list(FEATURE_COLUMNS)],
        scored[champion],
        scored[challenger],
        versions=(champion, challenger),
        source=source,
        limits=limits,
        actual=actual,
        drift=drift,
    )
    paths = save_report(report, out or core.state_dir / "reports", settings)
    sys.stdout.write(render_markdown(report))
    print(f"\nreport: {paths[0]} and {paths[1]}")
    return 0


def run_promote(
    version: str, *, force: bool, config: Path, report_path: Path | None, settings: AppSettings
) -> int:
    """Move the alias to ``version`` if its latest replay keeps within limits (or ``force``)."""
    from ml.registry import resolve_alias, set_alias

    core = settings.core
    tracking_uri = core.resolved_tracking_uri()
    current = resolve_alias(
        tracking_uri=tracking_uri, name=core.registered_model, alias=core.model_alias
    )
    if current == version:
        print(f"version {version} already holds '{core.model_alias}'")
        return 0
    problems = _promotion_problems(
        version, current, load_config(config).promotion, report_path or _latest(settings)
    )
    if problems and not force:
        print(f"refusing to promote version {version}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("run `hpp compare --challenger VERSION` again, or pass --force", file=sys.stderr)
        return 1
    if problems:
        print(f"promoting version {version} despite: " + "; ".join(problems), file=sys.stderr)
    set_alias(
        tracking_uri=tracking_uri,
        name=core.registered_model,
        alias=core.model_alias,
        version=version,
    )
    print(f"'{core.model_alias}' now points at version {version} (was {current})")
    from workers.lifecycle import record_manual_move

    why = "hpp promote" + (" --force despite: " + "; ".join(problems) if problems else "")
    record_manual_move(
        settings, alias=core.model_alias, version=version, previous=current, reason=why
    )
    return 0


def save_report(report: dict[str, Any], folder: Path, settings: AppSettings) -> tuple[Path, Path]:
    """Write ``replay-<champion>-<challenger>-<time>.json/.md`` and ``latest.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report["generated_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    stem = f"replay-v{report['champion']['version']}-v{report['challenger']['version']}-{stamp}"
    text = json.dumps(report, indent=2)
    (folder / f"{stem}.json").write_text(text)
    (folder / f"{stem}.md").write_text(render_markdown(report))
    (folder / "latest.json").write_text(text)
    if settings.core.redis_url:
        import redis

        try:  # for the gateway's monitoring page; the files above are the record
            with redis.Redis.from_url(settings.core.redis_url, socket_timeout=5) as client:
                client.set(REPLAY_KEY, text)
        except (redis.RedisError, OSError) as exc:
            print(f"warning: could not store the report in Redis: {exc}", file=sys.stderr)
    return folder / f"{stem}.json", folder / f"{stem}.md"


def _promotion_problems(
    version: str, current: str | None, limits: PromotionLimits, path: Path
) -> list[str]:
    if not path.exists():
        return [f"no replay report at {path}"]
    report = json.loads(path.read_text())
    if report["challenger"]["version"] != version:
        return [
            f"the latest report is for version {report['challenger']['version']}, not {version}"
        ]
    if current is not None and report["champion"]["version"] != current:
        return [
            f"the report compares against version {report['champion']['version']}, "
            f"but the champion is now {current}"
        ]
    return list(check_limits(report, limits)["failures"])


def _latest(settings: AppSettings) -> Path:
    return settings.core.state_dir / "reports" / "latest.json"


def _job_input(job_id: str, settings: AppSettings) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    from jobs.blobs import BlobNotFoundError
    from jobs.store import JobStore
    from jobs.sync_blobs import SyncBlobStore

    if not settings.core.redis_url:
        return None, {}
    store = JobStore.from_url(
        settings.core.redis_url, ttl_seconds=settings.worker.result_ttl_seconds
    )
    blobs = SyncBlobStore.open(settings.core.resolved_blob_url())
    try:
        record = store.get(job_id)
        if record is None or record.from_pointer:  # a job from a pointer: its files are not one CSV
            return None, {}
        data = blobs.read_bytes(record.input_key)
    except BlobNotFoundError:
        return None, {}
    finally:
        blobs.close()
        store.close()
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    source = {"kind": "job", "job_id": job_id, "model_version": record.model_version}
    return frame, source


def _actuals(frame: pd.DataFrame, job_id: str | None, settings: AppSettings) -> pd.Series | None:
    for column in ACTUAL_COLUMNS:
        if column in frame.columns:
            return pd.to_numeric(frame[column], errors="coerce")
    if not job_id or not settings.core.redis_url:
        return None
    import redis

    with redis.Redis.from_url(settings.core.redis_url, socket_timeout=5) as client:
        keys = [seen_key(job_row_item(job_id, row)) for row in range(1, len(frame) + 1)]
        values = [
            v
            for start in range(0, len(keys), 10_000)
            for v in client.mget(keys[start : start + 10_000])
        ]
    known = pd.to_numeric(pd.Series(values, index=frame.index, dtype=object), errors="coerce")
    return known if known.notna().any() else None
