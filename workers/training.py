"""One training run on the shipped data plus accepted feedback: validate, train, register.

Shared by ``hpp train [--with-feedback]`` and the loop's retrain task, so a version made by
hand and one made by a trigger are made the same way and both record their data version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.settings import AppSettings
from jobs.feedback_rows import FeedbackRow, read_rows, rows_frame
from ml.card_builder import build_card
from ml.config import TrainConfig
from ml.data import REQUIRED_COLUMNS, file_sha256, load_training_data
from ml.data_version import DataVersion, merge_feedback, shipped_version
from ml.gate_cv import Baseline, baseline_from_card
from ml.registry import CHAMPION, Registered, load_card, log_and_register
from ml.train import TrainingResult, train
from workers.feedback_houses import recover_houses

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainedVersion:
    """A registered version with its result and the data it saw."""

    registered: Registered
    result: TrainingResult
    data_version: DataVersion


def training_frame(
    data: Path, *, with_feedback: bool, settings: AppSettings
) -> tuple[pd.DataFrame, DataVersion]:
    """The validated shipped data, plus the accepted feedback rows when asked (raises DataError).

    A feedback row without its house (a job's row) is read back from the job's input, or
    counted rejected with the reason in the data version.
    """
    shipped = load_training_data(data)
    if not with_feedback:
        return shipped, shipped_version(shipped)
    recovered = recover_houses(feedback_rows(settings), shipped=shipped, settings=settings)
    unreadable = [reason for _, reason in recovered.rejected]
    frame = rows_frame(recovered.rows)
    if frame.empty and not unreadable:
        return shipped, shipped_version(shipped)
    if frame.empty:
        frame = pd.DataFrame(columns=[*REQUIRED_COLUMNS, "at"])
    return merge_feedback(
        shipped,
        frame[list(REQUIRED_COLUMNS)],
        reported_at=frame["at"],
        unreadable=unreadable,
    )


def feedback_rows(settings: AppSettings) -> list[FeedbackRow]:
    """The accepted feedback rows in Redis (none without Redis)."""
    if not settings.core.redis_url:
        return []
    import redis

    with redis.Redis.from_url(settings.core.redis_url, socket_timeout=10) as client:
        return read_rows(client)


def champion_baseline(tracking_uri: str, name: str) -> tuple[Baseline | None, str]:
    """The current champion's configuration (from its card), or why there is none to compare."""
    card = load_card(tracking_uri=tracking_uri, name=name, alias=CHAMPION)
    if card is None:
        return None, "no champion to compare with"
    baseline = baseline_from_card(str(card.version), card.model_type, card.params)
    if baseline is None:
        return None, f"champion v{card.version}'s model type {card.model_type!r} cannot be refitted"
    return baseline, ""


def train_version(
    *,
    data: Path,
    config: TrainConfig,
    config_path: Path | None,
    settings: AppSettings,
    with_feedback: bool,
    alias: str,
    progress: Progress,
) -> TrainedVersion:
    """Train on the data (and feedback), log and register; ``alias`` moves if the gates pass.

    The relative gate compares with the current ``champion``'s configuration on the same
    folds, whichever alias this run would move.
    """
    frame, version = training_frame(data, with_feedback=with_feedback, settings=settings)
    progress(
        f"data {version.sha256[:12]}: {version.rows:,} rows "
        + ", ".join(f"{k} {v:,}" for k, v in version.rows_by_source.items())
        + (
            f" ({version.feedback_rejected} feedback rows rejected)"
            if version.feedback_rejected
            else ""
        )
    )
    tracking_uri = settings.core.resolved_tracking_uri()
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    baseline, why_not = champion_baseline(tracking_uri, config.registered_model)
    result = train(frame, config, progress=progress, baseline=baseline, no_baseline=why_not)
    card = build_card(result, data_path=data, data_sha256=file_sha256(data))
    card.data.version = version.model_dump()
    registered = log_and_register(
        result,
        card,
        tracking_uri=tracking_uri,
        config_path=config_path,
        alias=alias,
        data_version=version.model_dump(),
    )
    return TrainedVersion(registered, result, version)
