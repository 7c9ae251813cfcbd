"""The embedded Redis server: starts on a free port, stops with SIGTERM."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from hpp.redis_server import EmbeddedRedis, embedded_redis, redis_server_binary


def test_embedded_redis_serves_and_stops() -> None:
    with embedded_redis() as url:
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert client.config_get("save")["save"] == ""
        client.close()

    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        reachable = True
    except redis.ConnectionError:
        reachable = False
    assert not reachable


def test_server_process_is_ours_and_exits_on_stop() -> None:
    server = EmbeddedRedis()
    server.start()
    process = server.process
    assert process is not None
    assert process.poll() is None

    server.stop()

    assert process.returncode is not None


def test_binary_is_found() -> None:
    assert redis_server_binary().endswith("redis-server")


def test_a_password_is_required_and_never_on_the_command_line() -> None:
    server = EmbeddedRedis(password="s3cret-Pass_word")
    server.start()
    try:
        assert server.process is not None
        command_line = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port).ping()
        assert redis.Redis.from_url(server.url).ping()
        assert "s3cret" not in server.display_url
    finally:
        server.stop()
    assert b"s3cret" not in command_line
