"""The loop end to end: real Redis, scoring worker, training worker, gateway and MLflow store.

Small sizes and short intervals: one XGBoost candidate, 3 folds, the gateway following the
alias every second. The story: v1 is champion; the market moves (sale prices 15 % above
what v1 learnt) and the reported prices break v1's live gate; exactly one retrain starts,
on data that includes those prices; v2 passes the gates and becomes challenger; sale prices
of houses v2 never saw show it better, and it is promoted; then the market falls 15 % below
the old level, v2 is significantly worse than v1 on the same houses, and v1 comes back.
A version trained on shuffled prices is never promoted. The alias history holds every
move with its reason; the loop's event log (triggers and moves) is printed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import redis
import yaml

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.triggers import history as trigger_history
from ml.config import AutoPromotion, GateCV, Gates, PromotionLimits, TrainConfig
from ml.contract import FEATURE_COLUMNS
from ml.registry import alias_history, resolve_alias
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway_within, stop_gateway
from tests.support.keys import ALICE
from tests.support.paths import DATA
from tests.support.worker_process import StartWorker, WorkerProcess, spawn_worker
from workers import lifecycle
from workers.training import train_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
LOOP_DB = 2
NAME = "house-price"
MARKET_MOVE, MARKET_FALL = 1.15, 0.85
FEEDBACK_HOUSES, PAIRED_HOUSES = 600, 150
LOOP_CONFIG = TrainConfig(
    cv_folds=3,
    calibration_folds=5,
    candidates={"xgboost": {"n_estimators": [200], "max_depth": [4], "learning_rate": [0.08]}},
    gates=Gates(r2_min=0.6, mae_max=25_000, rmse_max=45_000),
    gate_cv=GateCV(repeats=2, folds=3),  # the relative gate: v2 against v1's config, same folds
    n_jobs=2,  # as shipped: the trainer's retrain runs its folds in processes of its own
    auto_promotion=AutoPromotion(min_paired=30, alpha=0.05, min_rollback_actuals=30),
    # A 15 % market move moves about a third of the hold-out's prices by more than 5 %
    # (measured: 32.6 %), which the shipped limit (30 %) refuses: the shipped limits guard
    # against surprises in a quiet market, and a moved market is the point of this test.
    promotion=PromotionLimits(max_moved_share=0.5, max_mean_change=0.10),
)


class Loop:
    """The running system and its handles."""

    def __init__(self, env: BatchEnv, settings: AppSettings, gateway: GatewayProcess) -> None:
        self.env, self.settings, self.gateway = env, settings, gateway
        self.redis = redis.Redis.from_url(env.redis_url)
        self.http = httpx.Client(base_url=gateway.url, timeout=60, headers=ALICE)

    def alias(self, alias: str) -> str | None:
        return resolve_alias(tracking_uri=self.env.tracking_uri, name=NAME, alias=alias)

    def predict(self, houses: pd.DataFrame) -> list[str]:
        rows = houses[list(FEATURE_COLUMNS)].to_dict(orient="records")
        answer = self.http.post("/v1/predict/batch", json={"rows": rows})
        assert answer.status_code == 200, answer.text
        return [p["prediction_id"] for p in answer.json()["predictions"]]

    def report(self, ids: list[str], prices: pd.Series) -> dict[str, Any]:
        items = [
            {"prediction_id": pid, "actual_price": round(float(price), 2)}
            for pid, price in zip(ids, prices, strict=True)
        ]
        answer = self.http.post("/v1/feedback", json={"items": items})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        # A rare extreme sale (an $11K house) lands far outside its interval: held, not counted.
        assert body["accepted"] + len(body["held"]) == len(items), body
        assert len(body["held"]) <= 2, body["held"]
        return body

    def serving(self) -> str:
        return str(self.http.get("/v1/model").json()["version"])


def wait_for(what: str, check: Callable[[], Any], *, timeout: float = 300.0) -> Any:
    """Poll ``check`` until it returns something truthy (or fail naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def loop(
    redis_url: str, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loop]:
    state = tmp_path_factory.mktemp("loop")
    config_path = state / "config.yaml"
    config_path.write_text(yaml.safe_dump(json.loads(LOOP_CONFIG.model_dump_json())))
    base = BatchEnv(
        redis_url=redis_url,
        blob_url=(state / "blobs").as_uri(),
        tracking_uri=f"sqlite:///{state / 'mlflow.db'}",
        state_dir=state,
    )
    env = base.with_database(
        LOOP_DB,
        extra={
            "HPP_TRAINING_CONFIG": str(config_path),
            "HPP_TRAINING_DATA": str(DATA),
            "HPP_FEEDBACK_KEY_NAMES": '["alice"]',
            "HPP_AUDIT_ENABLED": "false",
        },
    )
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()
    settings = loop_settings(env, config_path)
    first = train_version(
        data=DATA,
        config=LOOP_CONFIG,
        config_path=config_path,
        settings=settings,
        with_feedback=False,
        alias="champion",
        progress=lambda _: None,
    ).registered.version
    lifecycle.record_manual_move(
        settings, alias="champion", version=first, previous=None, reason="first model (test)"
    )
    with contextlib.ExitStack() as stack:  # whatever started is stopped, even on a failed start
        stack.callback(client.close)
        stack.callback(client.flushdb)
        stack.callback(print_event_log, env, client)
        stack.callback(start_worker(env).stop)
        stack.callback(start_trainer(env, state / "trainer.log").stop)
        # A generous start: the other services and training share two cores with it.
        gateway = start_gateway_within(
            env, state / "gateway.log", ready_seconds=600, extra={"HPP_MODEL_POLL_SECONDS": "1"}
        )
        stack.callback(stop_gateway, gateway)
        yield Loop(env, settings, gateway)


def loop_settings(env: BatchEnv, config_path: Path) -> AppSettings:
    core = CoreSettings(
        redis_url=env.redis_url,
        mlflow_tracking_uri=env.tracking_uri,
        state_dir=env.state_dir,
        training_config=config_path,
        training_data=DATA,
    )
    return AppSettings(
        core=core,
        gateway=GatewaySettings(),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(),
    )


def start_trainer(env: BatchEnv, log_path: Path) -> WorkerProcess:
    """``hpp trainer``: the worker of the training queue."""
    return spawn_worker(env, log_path, command="trainer")


def print_event_log(env: BatchEnv, client: redis.Redis) -> None:
    print("\n--- the loop's event log: triggers (oldest first) ---")
    for event in reversed(trigger_history(client, limit=500)):
        stamp = time.strftime("%H:%M:%S", time.gmtime(event.at))
        outcome = f" -> {event.outcome}" if event.outcome else ""
        version = f"v{event.model_version}" if event.model_version else "-"
        print(f"{stamp} {event.kind:<8} {event.action:<13} {version}: {event.reason}{outcome}")
    print("--- alias history (MLflow registered-model tags) ---")
    for move in alias_history(tracking_uri=env.tracking_uri, name=NAME):
        print(
            f"#{move.seq} {move.at[11:19]} {move.action:<10} {move.alias or '-':<10} "
            f"v{move.previous or '-'} -> v{move.version} by {move.by}: {move.reason}"
        )


def test_the_loop_retrains_promotes_and_rolls_back_by_itself(loop: Loop) -> None:
    data = pd.read_csv(DATA).sample(frac=1.0, random_state=3).reset_index(drop=True)
    moved, paired, back = (
        data.iloc[:FEEDBACK_HOUSES],
        data.iloc[FEEDBACK_HOUSES : FEEDBACK_HOUSES + PAIRED_HOUSES],
        data.iloc[FEEDBACK_HOUSES + PAIRED_HOUSES : FEEDBACK_HOUSES + 2 * PAIRED_HOUSES],
    )
    v1 = loop.alias("champion")

    # The market moves: prices 15 % above what v1 learnt break its live gate.
    answer = loop.report(loop.predict(moved), moved["price"] * MARKET_MOVE)
    assert answer["live"][v1]["gates"]["status"] == "breached", answer["live"]
    # More of the same episode: debounced, no second retrain.
    more = data.iloc[-100:]
    loop.report(loop.predict(more), more["price"] * MARKET_MOVE)

    finished = wait_for(
        "the retrain to finish",
        lambda: [e for e in trigger_history(loop.redis) if e.action == "finished"],
        timeout=600,
    )
    requested = [e for e in trigger_history(loop.redis, limit=500) if e.action == "requested"]
    assert [(e.kind, e.model_version) for e in requested] == [("accuracy", v1)]
    outcome = finished[0].outcome or {}
    assert outcome["rows_by_source"]["feedback"] >= FEEDBACK_HOUSES  # trained on the feedback
    v2 = outcome["version"]
    assert outcome["challenger"] is True
    assert loop.alias("challenger") == v2
    assert loop.alias("champion") == v1  # a retrain never moves champion itself

    # Houses v2 never saw, sold at the new level: v2 is better on them, and promoted.
    loop.report(loop.predict(paired), paired["price"] * MARKET_MOVE)
    wait_for("v2 to be promoted", lambda: loop.alias("champion") == v2)
    assert loop.alias("previous") == v1
    assert loop.alias("challenger") is None
    wait_for("the gateway to serve v2", lambda: loop.serving() == v2, timeout=60)

    # The market falls below where v1 learnt it: v2 (which learnt the rise) is now worse
    # than v1 on the same houses, and v1 comes back by itself.
    loop.report(loop.predict(back), back["price"] * MARKET_FALL)
    wait_for("v1 to come back", lambda: loop.alias("champion") == v1)

    # A version trained on shuffled prices fails its gates and is never even a challenger.
    shuffled = pd.read_csv(DATA)
    shuffled["price"] = shuffled["price"].sample(frac=1.0, random_state=5).to_numpy()
    path = loop.env.state_dir / "shuffled.csv"
    shuffled.drop_duplicates().to_csv(path, index=False)  # a shuffle can make a twin row
    rejected = lifecycle.retrain(
        loop.settings, kind="manual", reason="shuffled prices (test)", data=path
    )
    assert not rejected.passed
    assert loop.alias("challenger") != rejected.version
    assert loop.alias("champion") == v1

    moves = alias_history(tracking_uri=loop.env.tracking_uri, name=NAME)
    champion_moves = [(m.action, m.version) for m in moves if m.alias == "champion"]
    assert champion_moves == [("manual", v1), ("promotion", v2), ("rollback", v1)]
    assert ("challenger", v2) in [(m.action, m.version) for m in moves]
    assert ("rejected", rejected.version) in [(m.action, m.version) for m in moves]
    # (The fall also breaks v2's live gate: that is an episode of v2's own, which may
    # request a retrain of its own; v1's episode requested exactly one, checked above.)
    assert all(m.reason and m.by for m in moves)
    promotion = next(m for m in moves if m.action == "promotion")
    assert "better" in promotion.reason
    assert promotion.by == "rule:auto_promotion"
    assert next(m for m in moves if m.action == "rollback").by == "rule:auto_rollback"
