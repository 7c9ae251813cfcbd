"""Registry: URIs, aliases, and a PostgreSQL tracking store when one runs here."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from ml.predict import Predictor
from ml.registry import parse_model_uri, resolve_alias
from tests.support.model import ModelRegistry, quick_config, train_and_register


def test_parse_model_uri_accepts_alias_and_version_forms() -> None:
    assert parse_model_uri("models:/house-price@champion") == ("house-price", "champion", None)
    assert parse_model_uri("models:/house-price/12") == ("house-price", None, "12")
    with pytest.raises(ValueError, match="not a registry URI"):
        parse_model_uri("runs:/abc/model")


def test_resolve_alias_is_none_for_unknown_models_and_aliases(
    model_registry: ModelRegistry,
) -> None:
    uri = model_registry.tracking_uri
    assert (
        resolve_alias(tracking_uri=uri, name="house-price", alias="champion")
        == model_registry.version
    )
    assert resolve_alias(tracking_uri=uri, name="house-price", alias="nope") is None
    assert resolve_alias(tracking_uri=uri, name="no-such-model", alias="champion") is None


def _postgres_url() -> str | None:
    url = os.environ.get("HPP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg
    except ImportError:
        return None
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
        psycopg.connect(url, connect_timeout=2).close()
    except (OSError, psycopg.Error):
        return None
    return url


@pytest.mark.slow
def test_a_postgresql_tracking_store_registers_and_serves_the_model() -> None:
    import psycopg

    admin_url = _postgres_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL reachable at 127.0.0.1:5432 (set HPP_TEST_POSTGRES_URL)")
    database = f"hpp_test_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(admin_url, autocommit=True)
    admin.execute(f"CREATE DATABASE {database}")
    try:
        base = admin_url.rsplit("/", 1)[0]
        registry = train_and_register(f"{base}/{database}", quick_config())
        predictor = Predictor.load(registry.model_uri, tracking_uri=registry.tracking_uri)
        assert predictor.version == "1"
        assert predictor.card.metrics["rmse"] > 0
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()
