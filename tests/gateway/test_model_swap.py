"""The served model follows the registry alias: swapped in the background, no request lost."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis

from gateway.main import create_app
from ml.registry import set_alias
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory, build_settings
from tests.support.keys import ADMIN, USER
from tests.support.model import ModelRegistry, quick_config, train_and_register


@pytest.fixture(scope="module")
def second_version(model_registry: ModelRegistry) -> Iterator[str]:
    """Another registered version of the model, not (yet) champion; champion restored after."""
    version = model_registry.register_another(seed=7, promote=False)
    yield version
    move_champion(model_registry, model_registry.version)


def move_champion(model_registry: ModelRegistry, version: str) -> None:
    """Point the session store's champion alias at ``version``."""
    set_alias(
        tracking_uri=model_registry.tracking_uri,
        name=model_registry.name,
        alias="champion",
        version=version,
    )


@pytest.mark.slow
async def test_alias_move_swaps_model_while_requests_stream(
    make_settings: SettingsFactory,
    model_registry: ModelRegistry,
    second_version: str,
    house: dict[str, Any],
) -> None:
    old, new = model_registry.version, second_version
    app = create_app(make_settings(model_poll_seconds=0.1))
    seen: list[list[str]] = [[] for _ in range(8)]
    failures: list[str] = []
    switched = asyncio.Event()

    async def stream(http: httpx.AsyncClient, index: int) -> None:
        after_switch = 0
        while after_switch < 20:
            if index % 2:
                response = await http.post("/v1/predict", json=house, headers=USER)
                versions = [response.json().get("model_version")] if response.is_success else []
            else:
                rows = {"rows": [house] * 50}
                response = await http.post("/v1/predict/batch", json=rows, headers=USER)
                body = response.json() if response.is_success else {}
                versions = [body.get("model_version")] + [
                    p["model_version"] for p in body.get("predictions", [])
                ]
                if len(set(versions)) != 1:
                    failures.append(f"mixed versions in one batch: {set(versions)}")
            if not response.is_success:
                failures.append(f"{response.status_code} {response.text[:200]}")
                continue
            seen[index].append(versions[0])
            if versions[0] == new:
                switched.set()
                after_switch += 1
            await asyncio.sleep(0)

    try:
        async with lifespan(app), asgi_client(app) as http:
            streams = [asyncio.create_task(stream(http, i)) for i in range(len(seen))]
            await asyncio.sleep(0.5)
            assert not switched.is_set()
            await asyncio.to_thread(move_champion, model_registry, new)
            await asyncio.wait_for(asyncio.gather(*streams), timeout=120)
    finally:
        move_champion(model_registry, old)

    assert failures == []
    for versions in seen:
        assert versions[0] == old
        first_new = versions.index(new)
        # Each stream is sequential: once it saw the new version it never sees the old.
        assert set(versions[:first_new]) == {old}
        assert set(versions[first_new:]) == {new}


@pytest.mark.slow
async def test_admin_reload_follows_the_alias_immediately(
    make_settings: SettingsFactory,
    model_registry: ModelRegistry,
    second_version: str,
    house: dict[str, Any],
) -> None:
    app = create_app(make_settings(model_poll_seconds=0))
    try:
        async with lifespan(app), asgi_client(app) as http:
            move_champion(model_registry, second_version)
            before = (await http.post("/v1/predict", json=house, headers=USER)).json()
            reload = await http.post("/v1/model/reload", headers=ADMIN)
            after = (await http.post("/v1/predict", json=house, headers=USER)).json()
            card = (await http.get("/v1/model", headers=USER)).json()
    finally:
        move_champion(model_registry, model_registry.version)
    assert before["model_version"] == model_registry.version
    assert reload.json() == {
        "swapped": True,
        "model_version": second_version,
        "last_error": None,
        "challenger_version": None,
    }
    assert after["model_version"] == second_version
    assert card["version"] == second_version


@pytest.mark.slow
async def test_starts_without_a_model_then_picks_it_up(
    tmp_path: Path, house: dict[str, Any]
) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(build_settings(tmp_path, tracking_uri=tracking_uri, model_poll_seconds=0.2))
    async with lifespan(app), asgi_client(app) as http:
        ready = await http.get("/readyz")
        predict = await http.post("/v1/predict", json=house, headers=USER)
        card = await http.get("/v1/model", headers=USER)
        assert ready.status_code == 503
        assert ready.json()["model"]["status"] == "unavailable"
        assert ready.json()["model"]["error"]
        assert ready.json()["broker"]["status"] == "unconfigured"
        assert predict.status_code == 503
        assert predict.headers["content-type"] == "application/problem+json"
        assert predict.headers["retry-after"]
        assert card.status_code == 503

        registered = await asyncio.to_thread(train_and_register, tracking_uri, quick_config())
        for _ in range(300):
            ready = await http.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
        predict = await http.post("/v1/predict", json=house, headers=USER)
    assert ready.status_code == 200
    assert ready.json()["model"]["version"] == registered.version
    assert predict.status_code == 200
    assert predict.json()["model_version"] == registered.version


SWAP_DB = 14


@pytest.mark.slow
async def test_between_alias_move_and_reload_every_interface_shows_one_version(
    tmp_path: Path,
    model_registry: ModelRegistry,
    second_version: str,
    house: dict[str, Any],
    redis_url: str,
) -> None:
    old, new = model_registry.version, second_version
    settings = build_settings(
        tmp_path, tracking_uri=model_registry.tracking_uri, name=model_registry.name
    )
    jobs_redis = urlparse(redis_url)._replace(path=f"/{SWAP_DB}").geturl()
    core = settings.core.model_copy(
        update={"redis_url": jobs_redis, "blob_url": (tmp_path / "blobs").as_uri()}
    )
    app = create_app(dataclasses.replace(settings, core=core))
    try:
        async with lifespan(app), asgi_client(app) as http:
            before = await versions_shown(http, model_registry.name, house)
            await asyncio.to_thread(move_champion, model_registry, new)
            between = await versions_shown(http, model_registry.name, house)
            reload = await http.post("/v1/model/reload", headers=ADMIN)
            after = await versions_shown(http, model_registry.name, house)
    finally:
        move_champion(model_registry, old)
        redis.Redis.from_url(jobs_redis).flushdb()

    assert reload.json()["model_version"] == new
    assert before == dict.fromkeys(before, old)
    assert between == dict.fromkeys(between, old)  # the alias moved, this gateway did not yet
    assert after == dict.fromkeys(after, new)


async def versions_shown(
    http: httpx.AsyncClient, name: str, house: dict[str, Any]
) -> dict[str, str]:
    """The version each interface answers with now; a new job's pinned version among them."""
    text = {"location", "condition"}
    single = await http.post("/v1/predict", json=house, headers=USER)
    batch = await http.post("/v1/predict/batch", json={"rows": [house]}, headers=USER)
    card = await http.get("/v1/model", headers=USER)
    tensors = [
        {"name": k, "shape": [1], "datatype": "BYTES" if k in text else "FP64", "data": [v]}
        for k, v in house.items()
    ]
    v2 = await http.post(f"/v2/models/{name}/infer", json={"inputs": tensors}, headers=USER)
    job = await http.post(
        "/v1/jobs",
        content=("\n".join([",".join(house), ",".join(map(str, house.values()))]) + "\n").encode(),
        headers={**USER, "Content-Type": "text/csv"},
    )
    assert job.status_code == 202, job.text
    return {
        "/v1/predict": single.json()["model_version"],
        "/v1/predict/batch": batch.json()["model_version"],
        "/v1/model": card.json()["version"],
        "/v2 infer": v2.json()["model_version"],
        "new job": job.json()["model_version"],
    }
