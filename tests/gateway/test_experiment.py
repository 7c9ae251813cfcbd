"""Challengers on live traffic: shadow scoring, the sticky A/B split, per-arm figures, pairs.

Two real versions: the session's registered champion, and a challenger built from the
other candidate the same training run fitted (a linear model: different prices, no second
training). Predictions, feedback and the monitoring report go through a real Redis.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import redis
from fastapi import FastAPI
from prometheus_client import REGISTRY

from core.settings import AppSettings, hash_api_key
from gateway.experiment import in_challenger_arm
from gateway.main import create_app
from gateway.prediction_log import prediction_log
from jobs.keys import prediction_key
from ml.contract import HouseFeatures
from ml.predict import Predictor
from ml.registry import CHALLENGER, delete_alias, set_alias
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import build_settings
from tests.support.keys import ADMIN, USER
from tests.support.model import ModelRegistry
from tests.support.paths import DATA

EXPERIMENT_DB = 9
DELEGATE_KEY = "delegate-key-5555555555"
DELEGATE = {"X-API-Key": DELEGATE_KEY}
SELLERS = [f"seller-{i}" for i in range(16)]  # trusted keys: their sale prices count
CHALLENGER_VERSION = "900"
COLUMNS = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]

Versions = tuple[Predictor, Predictor]
AppFactory = Callable[..., AppSettings]


@pytest.fixture(scope="module")
def versions(model_registry: ModelRegistry) -> Versions:
    """The registered champion and a challenger from the run's other fitted candidate."""
    champion = Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)
    other = next(c for c in model_registry.result.candidates if c.name != champion.card.model_type)
    challenger = Predictor.from_pipeline(
        other.estimator, champion.card.model_copy(update={"version": CHALLENGER_VERSION})
    )
    return champion, challenger


@pytest.fixture
def experiment_settings(
    tmp_path: Path, model_registry: ModelRegistry, redis_url: str
) -> AppFactory:
    """Settings on an emptied Redis database; ``client`` is trusted, ``helper`` a delegate."""
    url = redis_url.rsplit("/", 1)[0] + f"/{EXPERIMENT_DB}"
    redis.Redis.from_url(url).flushdb()

    def make(**gateway: Any) -> AppSettings:
        settings = build_settings(
            tmp_path,
            tracking_uri=model_registry.tracking_uri,
            name=model_registry.name,
            feedback_key_names=["client", *SELLERS],
            delegate_key_names=["helper"],
            **gateway,
        )
        keys = {
            **settings.gateway.api_keys,
            "helper": hash_api_key(DELEGATE_KEY),
            **{name: hash_api_key(key_of(name)) for name in SELLERS},
        }
        return replace(
            settings,
            core=settings.core.model_copy(update={"redis_url": url}),
            gateway=settings.gateway.model_copy(update={"api_keys": keys}),
        )

    return make


@asynccontextmanager
async def started(
    settings: AppSettings, versions: Versions, *, challenger: bool = True
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A gateway serving both versions (or the champion alone), with a client."""
    champion, trial = versions
    app = create_app(settings, predictor=champion, challenger=trial if challenger else None)
    async with lifespan(app), asgi_client(app) as http:
        yield app, http


def houses(count: int, *, seed: int = 5) -> pd.DataFrame:
    """Real houses with their sale prices."""
    return pd.read_csv(DATA).sample(count, random_state=seed).reset_index(drop=True)


def key_of(name: str) -> str:
    return f"{name}-key-not-a-secret"


def as_seller(name: str) -> dict[str, str]:
    return {"X-API-Key": key_of(name)}


def as_user(user: str) -> dict[str, str]:
    return {**DELEGATE, "X-On-Behalf-Of": user}


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def stored(app: FastAPI, prediction_id: str) -> dict[str, Any]:
    await prediction_log(app).flush()
    raw = await app.state.redis.get(prediction_key(prediction_id))
    return dict(json.loads(raw))


def test_the_split_follows_the_weight_and_is_a_pure_function_of_the_caller() -> None:
    owners = [f"helper/user-{i}" for i in range(4000)]
    half = [in_challenger_arm(o, "2", 0.5) for o in owners]
    tenth = [in_challenger_arm(o, "2", 0.1) for o in owners]

    assert 0.45 < np.mean(half) < 0.55
    assert 0.07 < np.mean(tenth) < 0.13
    assert half == [in_challenger_arm(o, "2", 0.5) for o in owners]
    assert not any(in_challenger_arm(o, "2", 0.0) for o in owners)
    assert all(in_challenger_arm(o, "2", 1.0) for o in owners)
    # A new trial (another challenger version) draws its own users.
    assert half != [in_challenger_arm(o, "3", 0.5) for o in owners]


async def test_ab_each_key_and_end_user_always_reaches_the_same_version(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    settings = experiment_settings(challenger_mode="ab", ab_challenger_weight=0.5)
    house = houses(1).iloc[0][COLUMNS].to_dict()
    seen: dict[str, set[str]] = {}
    async with started(settings, versions) as (_app, http):
        for _ in range(3):
            for user in [f"user-{i}" for i in range(30)]:
                answer = await http.post("/v1/predict", json=house, headers=as_user(user))
                seen.setdefault(user, set()).add(answer.json()["model_version"])
            for key, headers in (("client", USER), ("ops", ADMIN)):
                answer = await http.post("/v1/predict", json=house, headers=headers)
                seen.setdefault(key, set()).add(answer.json()["model_version"])

    assert all(len(reached) == 1 for reached in seen.values()), seen
    reached = {next(iter(v)) for v in seen.values()}
    assert reached == {str(versions[0].version), CHALLENGER_VERSION}


async def test_per_arm_live_metrics_add_up_to_the_whole(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    champion, _challenger = versions
    settings = experiment_settings(challenger_mode="ab", ab_challenger_weight=0.5)
    frame = houses(60)
    arms = [("champion", str(champion.version)), ("challenger", CHALLENGER_VERSION)]
    before = {
        arm: counter("arm_predictions_total", arm=arm[0], model_version=arm[1]) for arm in arms
    }
    async with started(settings, versions) as (_app, http):
        answered, accepted = [], {"champion": 0, "challenger": 0}
        for i, row in frame.iterrows():
            seller = as_seller(SELLERS[int(i) % len(SELLERS)])
            answer = (
                await http.post("/v1/predict", json=row[COLUMNS].to_dict(), headers=seller)
            ).json()
            answered.append(answer["model_version"])
            arm = "challenger" if answer["model_version"] == CHALLENGER_VERSION else "champion"
            item = {"prediction_id": answer["prediction_id"], "actual_price": float(row["price"])}
            feedback = await http.post("/v1/feedback", json={"items": [item]}, headers=seller)
            accepted[arm] += feedback.json()["accepted"]  # implausible prices are held
        report = (await http.get("/v1/monitoring", headers=USER)).json()

    delta = {
        arm: counter("arm_predictions_total", arm=arm[0], model_version=arm[1]) - before[arm]
        for arm in arms
    }
    assert sum(delta.values()) == len(frame)
    assert delta[arms[1]] == answered.count(CHALLENGER_VERSION) > 0
    served = {a["arm"]: a["served"] for a in report["experiment"]["arms"]}
    assert served == {"champion": delta[arms[0]], "challenger": delta[arms[1]]}
    live_n = {a["arm"]: a["live"]["n"] for a in report["experiment"]["arms"]}
    assert live_n == accepted  # each arm's feedback window holds exactly its own answers
    assert sum(live_n.values()) > len(frame) * 0.9
    # Every house was also scored by the other version: each accepted price is paired.
    assert report["experiment"]["paired"]["n"] == sum(accepted.values())


async def test_shadow_never_changes_the_response_and_records_both_predictions(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    champion, challenger = versions
    frame = houses(8, seed=9)
    bodies: dict[str, list[dict[str, Any]]] = {}
    for mode in ("off", "shadow"):
        async with started(experiment_settings(challenger_mode=mode), versions) as (app, http):
            bodies[mode] = []
            for _, row in frame.iterrows():
                answer = await http.post(
                    "/v1/predict?explain=true", json=row[COLUMNS].to_dict(), headers=USER
                )
                bodies[mode].append(answer.json())
            records = [await stored(app, b["prediction_id"]) for b in bodies[mode]]
            if mode == "off":
                assert all("sv" not in r for r in records)
                continue
            for record, (_, row) in zip(records, frame.iterrows(), strict=True):
                expected = challenger.predict_one(HouseFeatures(**row[COLUMNS].to_dict()))
                assert record["v"] == str(champion.version)
                assert record["sv"] == CHALLENGER_VERSION
                assert record["sp"] == pytest.approx(expected.predicted_price, rel=1e-6)
                assert record["sp"] != pytest.approx(record["p"], rel=1e-6)

    def without_id(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "prediction_id"}

    assert [without_id(b) for b in bodies["shadow"]] == [without_id(b) for b in bodies["off"]]
    assert all(b["model_version"] == str(champion.version) for b in bodies["shadow"])


async def test_v2_inference_is_scored_in_shadow_too(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    champion, challenger = versions
    frame = houses(3, seed=4)
    inputs = [
        {
            "name": c,
            "shape": [3],
            "datatype": "BYTES" if c in ("location", "condition") else "FP64",
            "data": frame[c].tolist(),
        }
        for c in COLUMNS
    ]
    async with started(experiment_settings(), versions) as (app, http):
        answer = await http.post(
            f"/v2/models/{champion.card.name}/infer", json={"inputs": inputs}, headers=USER
        )
        ids = answer.json()["parameters"]["prediction_ids"]
        records = [await stored(app, pid) for pid in ids]
    expected = challenger.predict_frame(frame[COLUMNS])["predicted_price"]
    assert answer.json()["model_version"] == str(champion.version)
    assert [r["sv"] for r in records] == [CHALLENGER_VERSION] * 3
    assert [r["sp"] for r in records] == pytest.approx(expected.tolist(), rel=1e-6)


async def test_feedback_gives_a_paired_comparison_of_both_versions(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    champion, challenger = versions
    frame = houses(40, seed=13)
    rows = frame[COLUMNS].to_dict(orient="records")
    async with started(experiment_settings(challenger_mode="shadow"), versions) as (_app, http):
        batch = await http.post("/v1/predict/batch", json={"rows": rows}, headers=USER)
        predictions = batch.json()["predictions"]
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": float(a)}
            for p, a in zip(predictions, frame["price"], strict=True)
        ]
        await http.post("/v1/feedback", json={"items": items}, headers=USER)
        await http.post("/v1/feedback", json={"items": items}, headers=USER)  # resent: once
        report = (await http.get("/v1/monitoring", headers=USER)).json()["experiment"]

    actual = frame["price"].to_numpy(float)
    champion_errors = np.abs([p["predicted_price"] for p in predictions] - actual)
    challenger_prices = challenger.predict_frame(frame[COLUMNS])["predicted_price"].to_numpy()
    challenger_errors = np.abs(challenger_prices - actual)
    paired = report["paired"]
    assert report["mode"] == "shadow"
    assert (report["champion_version"], report["challenger_version"]) == (
        str(champion.version),
        CHALLENGER_VERSION,
    )
    assert paired["n"] == 40
    assert paired["champion_mae"] == pytest.approx(champion_errors.mean())
    assert paired["challenger_mae"] == pytest.approx(challenger_errors.mean())
    assert paired["mean_paired_difference"] == pytest.approx(
        (challenger_errors - champion_errors).mean()
    )
    assert sum(b["n"] for b in report["paired_series"]) == 40


async def test_untrusted_feedback_makes_no_pairs(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    frame = houses(5, seed=2)
    async with started(experiment_settings(), versions) as (_app, http):
        batch = await http.post(
            "/v1/predict/batch",
            json={"rows": frame[COLUMNS].to_dict(orient="records")},
            headers=ADMIN,
        )
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": float(a)}
            for p, a in zip(batch.json()["predictions"], frame["price"], strict=True)
        ]
        answer = await http.post("/v1/feedback", json={"items": items}, headers=ADMIN)
        report = (await http.get("/v1/monitoring", headers=USER)).json()["experiment"]
    assert answer.json()["scope"] == "own"
    assert report["paired"]["n"] == 0


async def test_without_a_challenger_nothing_is_scored_in_shadow(
    experiment_settings: AppFactory, versions: Versions
) -> None:
    house = houses(1).iloc[0][COLUMNS].to_dict()
    async with started(experiment_settings(challenger_mode="ab"), versions, challenger=False) as (
        app,
        http,
    ):
        answer = (await http.post("/v1/predict", json=house, headers=USER)).json()
        record = await stored(app, answer["prediction_id"])
        report = (await http.get("/v1/monitoring", headers=USER)).json()["experiment"]
    assert "sv" not in record
    assert report["challenger_version"] is None
    assert report["paired"] is None


async def test_gateway_follows_the_challenger_alias(
    experiment_settings: AppFactory, model_registry: ModelRegistry
) -> None:
    """The registry's challenger alias is loaded and dropped as it moves (here it names the
    champion's own version, so the champion's object is reused and nothing is on trial)."""
    uri, name = model_registry.tracking_uri, model_registry.name
    app = create_app(experiment_settings())
    try:
        async with lifespan(app), asgi_client(app) as http:
            assert app.state.challenger_holder.current is None
            set_alias(tracking_uri=uri, name=name, alias=CHALLENGER, version=model_registry.version)
            reload = (await http.post("/v1/model/reload", headers=ADMIN)).json()
            assert app.state.challenger_holder.current is app.state.predictor_holder.current
            assert reload["challenger_version"] is None  # the champion itself: no trial
            assert delete_alias(tracking_uri=uri, name=name, alias=CHALLENGER)
            await http.post("/v1/model/reload", headers=ADMIN)
            assert app.state.challenger_holder.current is None
            assert app.state.challenger_holder.status().last_error is None
    finally:
        delete_alias(tracking_uri=uri, name=name, alias=CHALLENGER)
