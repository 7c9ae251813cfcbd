"""A/B on the real gateway process: a 50/50 split between two registered versions.

A real MLflow store holds two versions (``champion`` and ``challenger`` aliases); an
``hpp gateway`` process runs with ``HPP_CHALLENGER_MODE=ab`` and
``HPP_AB_CHALLENGER_WEIGHT=0.5`` on its own Redis database. Each API key and each end user
of a delegate key always reaches the same version; the arms' live metrics (from trusted
sale prices) add up to the whole: houses served, feedback counted, and the errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pandas as pd
import pytest
import redis

from core.settings import hash_api_key
from ml.config import Gates, TrainConfig
from ml.contract import FEATURE_COLUMNS
from ml.registry import set_alias
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.keys import ALICE, BOB
from tests.support.model import train_and_register
from tests.support.paths import DATA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
AB_DB = 6
SELLERS = [f"seller-{i}" for i in range(12)]  # trusted keys: their sale prices count
DELEGATE_KEY = "delegate-key-ab-0123456789"
LOOSE = Gates(r2_min=0.0, mae_max=10**9, rmse_max=10**9)


@dataclass
class Trial:
    gateway: GatewayProcess
    http: httpx.Client
    champion: str
    challenger: str


def key_of(name: str) -> str:
    return f"{name}-key-ab-not-a-secret"


@pytest.fixture(scope="module")
def trial(
    batch_env: BatchEnv, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trial]:
    state = tmp_path_factory.mktemp("ab")
    tracking = f"sqlite:///{state / 'mlflow.db'}"
    champion = train_and_register(
        tracking,
        TrainConfig(
            cv_folds=2,
            calibration_folds=3,
            candidates={"xgboost": {"n_estimators": [60], "max_depth": [3]}},
            gates=LOOSE,
        ),
    ).version
    challenger = train_and_register(
        tracking,
        # A gate it cannot pass: registered, but champion stays where it is.
        TrainConfig(
            cv_folds=2,
            calibration_folds=3,
            candidates={"linear_regression": {}},
            gates=Gates(r2_min=2.0),
        ),
    ).version
    set_alias(tracking_uri=tracking, name="house-price", alias="challenger", version=challenger)
    env = BatchEnv(
        redis_url=redis_url,
        blob_url=(state / "blobs").as_uri(),
        tracking_uri=tracking,
        state_dir=state,
    ).with_database(AB_DB)
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()
    keys = {
        "alice": hash_api_key(ALICE["X-API-Key"]),
        "bob": hash_api_key(BOB["X-API-Key"]),
        "helper": hash_api_key(DELEGATE_KEY),
        **{name: hash_api_key(key_of(name)) for name in SELLERS},
    }
    gateway = start_gateway(
        env,
        state / "gateway.log",
        HPP_CHALLENGER_MODE="ab",
        HPP_AB_CHALLENGER_WEIGHT="0.5",
        HPP_API_KEYS=json.dumps(keys),
        HPP_DELEGATE_KEY_NAMES='["helper"]',
        HPP_FEEDBACK_KEY_NAMES=json.dumps(SELLERS),
        HPP_RATE_LIMIT_PER_MINUTE="100000",
        HPP_AUDIT_ENABLED="false",
    )
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            yield Trial(gateway, http, champion, challenger)
    finally:
        stop_gateway(gateway)
        client.flushdb()
        client.close()


def houses(count: int, *, seed: int) -> pd.DataFrame:
    return pd.read_csv(DATA).sample(count, random_state=seed).reset_index(drop=True)


def predict(trial: Trial, house: dict[str, object], headers: dict[str, str]) -> dict:
    answer = trial.http.post("/v1/predict", json=house, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def arm_counts(trial: Trial) -> dict[str, float]:
    """``arm_predictions_total`` by arm, from the gateway's /metrics."""
    text = trial.http.get("/metrics").text
    counts: dict[str, float] = {"champion": 0.0, "challenger": 0.0}
    for arm, value in re.findall(r'^arm_predictions_total\{arm="(\w+)"[^}]*\} (\S+)$', text, re.M):
        counts[arm] += float(value)
    return counts


def test_each_key_and_end_user_always_reaches_the_same_version(trial: Trial) -> None:
    house = houses(1, seed=1).iloc[0][list(FEATURE_COLUMNS)].to_dict()
    callers = {name: {"X-API-Key": key_of(name)} for name in SELLERS}
    callers |= {"alice": ALICE, "bob": BOB}
    callers |= {
        f"helper/user-{i}": {"X-API-Key": DELEGATE_KEY, "X-On-Behalf-Of": f"user-{i}"}
        for i in range(40)
    }
    reached: dict[str, set[str]] = {}
    for _ in range(3):
        for who, headers in callers.items():
            reached.setdefault(who, set()).add(str(predict(trial, house, headers)["model_version"]))

    assert all(len(versions) == 1 for versions in reached.values()), reached
    by_version = pd.Series([next(iter(v)) for v in reached.values()]).value_counts()
    assert set(by_version.index) == {trial.champion, trial.challenger}
    assert min(by_version) >= 0.25 * len(callers)  # about half each (54 callers, 50/50)
    # One user of a key may see the challenger while the key itself sees the champion.
    users = {next(iter(reached[w])) for w in reached if w.startswith("helper/")}
    assert users == {trial.champion, trial.challenger}


def test_per_arm_live_metrics_add_up_to_the_whole(trial: Trial) -> None:
    before = arm_counts(trial)
    frame = houses(120, seed=3)
    answered: list[tuple[str, float, float]] = []  # version, predicted, actual
    held = 0
    for i, row in frame.iterrows():
        seller = {"X-API-Key": key_of(SELLERS[int(i) % len(SELLERS)])}
        answer = predict(trial, row[list(FEATURE_COLUMNS)].to_dict(), seller)
        item = {"prediction_id": answer["prediction_id"], "actual_price": float(row["price"])}
        receipt = trial.http.post("/v1/feedback", json={"items": [item]}, headers=seller).json()
        assert receipt["scope"] == "shared"
        if receipt["accepted"]:
            answered.append((answer["model_version"], answer["predicted_price"], row["price"]))
        held += len(receipt["held"])
    report = trial.http.get("/v1/monitoring", headers={"X-API-Key": key_of(SELLERS[0])}).json()
    after = arm_counts(trial)

    experiment = report["experiment"]
    assert (experiment["mode"], experiment["ab_challenger_weight"]) == ("ab", 0.5)
    arms = {a["arm"]: a for a in experiment["arms"]}
    assert arms["champion"]["model_version"] == trial.champion
    assert arms["challenger"]["model_version"] == trial.challenger
    # Houses: each arm's count is its share, and the shares add up to every request made.
    delta = {arm: after[arm] - before[arm] for arm in after}
    assert sum(delta.values()) == len(frame)
    assert min(delta.values()) > 0
    # Live metrics: each arm's window holds exactly the sale prices of the houses it answered.
    accepted = pd.DataFrame(answered, columns=["version", "predicted", "actual"])
    assert len(accepted) + held == len(frame)
    errors = (accepted["actual"] - accepted["predicted"]).abs()
    for arm in ("champion", "challenger"):
        mine = accepted["version"] == arms[arm]["model_version"]
        live = arms[arm]["live"]
        assert live["n"] == int(mine.sum()) > 0
        assert live["mae"] == pytest.approx(float(errors[mine].mean()), rel=1e-6)
    # ... and add up to the whole: counts, and the errors weighted by them.
    live_n = [arms[a]["live"]["n"] for a in ("champion", "challenger")]
    assert sum(live_n) == len(accepted)
    weighted = sum(arms[a]["live"]["n"] * arms[a]["live"]["mae"] for a in arms) / sum(live_n)
    assert weighted == pytest.approx(float(errors.mean()), rel=1e-6)
    # Every house was also priced by the other version in its shadow: all prices paired.
    assert experiment["paired"]["n"] == len(accepted)
