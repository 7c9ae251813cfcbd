"""``hpp up``: the whole system on one machine, on embedded defaults, until Ctrl-C.

Redis (an embedded server unless ``HPP_REDIS_URL`` is set), MLflow on a SQLite file and
blobs in a folder under the state directory, a model (trained on first start when the
registry has no ``champion``), then a worker, the loop's trainer (the training queue), the
gateway and the UI as child processes.
API keys for the local user and the UI are generated once and kept (mode 600) in the
state directory; the gateway only ever sees their hashes. The UI's key is a delegate (it
acts for each browser), and the secret signing the browsers' ids is kept there too, as is
the embedded Redis's password. Each child gets only its own secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.settings import AppSettings, hash_api_key

DATA = Path("data/house_data.csv")
CONFIG = Path("ml/config.yaml")
READY_TIMEOUT_SECONDS = 180.0
LOCAL_KEY_NAME = "local"
UI_KEY_NAME = "webui"
KEYS_FILE = "api-keys.json"
# Which child may see which secret (the Redis URL carries the Redis password).
CHILD_SECRETS: dict[str, frozenset[str]] = {
    "worker": frozenset({"HPP_REDIS_URL"}),
    "trainer": frozenset({"HPP_REDIS_URL"}),
    "notifier": frozenset({"HPP_REDIS_URL", "HPP_WEBHOOK_SECRETS"}),
    "gateway": frozenset({"HPP_REDIS_URL", "HPP_API_KEYS"}),
    "ui": frozenset({"HPP_UI_API_KEY", "HPP_UI_STORAGE_SECRET"}),
}
ALL_SECRETS = frozenset().union(*CHILD_SECRETS.values())


@dataclass
class Child:
    """One service process started by ``hpp up``."""

    name: str
    command: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        """Start ``hpp <command>`` in its own session, so Ctrl-C reaches only the parent.

        It gets only its own secrets from ``env``.
        """
        # The command is one of our own fixed subcommands, run with this interpreter.
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hpp.cli", self.command],
            env=own_secrets_only(env, self.command),
            start_new_session=True,
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a worker finishes or requeues its chunk), SIGKILL if it hangs."""
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def own_secrets_only(env: dict[str, str], command: str) -> dict[str, str]:
    """``env`` without the secrets that belong to the other children."""
    own = CHILD_SECRETS[command]
    return {k: v for k, v in env.items() if k not in ALL_SECRETS or k in own}


def run_up(settings: AppSettings) -> int:
    """Bring everything up, print where to go, and stop it all cleanly on Ctrl-C."""
    from observability.logging import configure_logging

    configure_logging("hpp", settings.observability)
    state = settings.core.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    busy = [p for p in (settings.gateway.port, settings.ui.ui_port) if _port_in_use(p)]
    if busy:
        print(
            f"port(s) {busy} already in use: stop what holds them or set HPP_PORT / HPP_UI_PORT",
            file=sys.stderr,
        )
        return 1
    # Until the services run, Ctrl-C or SIGTERM (even where the shell ignored SIGINT)
    # interrupts training, and the embedded Redis is still stopped on the way out.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        with _redis(settings, state) as redis_url:
            if not _ensure_model(settings):
                return 1
            env = _child_environment(settings, redis_url=redis_url, state=state)
            return _supervise(settings, env, state)
    except KeyboardInterrupt:  # Ctrl-C before the services started (e.g. while training)
        print("\nstopped before the services started", file=sys.stderr)
        return 130


def _supervise(settings: AppSettings, env: dict[str, str], state: Path) -> int:
    # The trainer takes only the training queue (retrains, promotion checks): scoring
    # workers and the gateway stay responsive while a retrain runs.
    # The notifier sends job completion notices (webhooks, SNS) off the scoring workers.
    children = [
        Child("worker", "worker"),
        Child("trainer", "trainer"),
        Child("notifier", "notifier"),
        Child("gateway", "gateway"),
        Child("ui", "ui"),
    ]
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    gateway = f"http://{settings.gateway.host}:{settings.gateway.port}"
    ui = f"http://{settings.ui.ui_host}:{settings.ui.ui_port}"
    # The UI starts once the gateway serves a model: a page opened any earlier could only
    # say that the service is starting.
    stages = ((children[:4], f"{gateway}/readyz"), (children[4:], f"{ui}/"))
    try:
        for group, ready_url in stages:
            for child in group:
                child.start(env)
            if not _wait_ready(ready_url, children, lambda: stopping):
                return 0 if stopping else 1
        _print_banner(gateway=gateway, ui=ui, state=state, env=env)
        while not stopping:
            dead = [c.name for c in children if not c.alive()]
            if dead:
                print(f"{', '.join(dead)} stopped unexpectedly; shutting down", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("\nstopping: ui, gateway, notifier, trainer, worker ...", flush=True)
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _redis(settings: AppSettings, state: Path) -> Iterator[str]:
    if settings.core.redis_url:
        yield settings.core.redis_url
        return
    from hpp.redis_server import EmbeddedRedis

    # A password, so other local users cannot read or rewrite jobs (kept like the keys).
    server = EmbeddedRedis(password=_local_secret(state / "redis-password"))
    server.start()
    try:
        print(
            f"started an embedded Redis at {server.display_url} with a password in "
            f"{state / 'redis-password'} (set HPP_REDIS_URL to use your own)",
            flush=True,
        )
        yield server.url
    finally:
        server.stop()


def _ensure_model(settings: AppSettings) -> bool:
    from ml.registry import resolve_alias

    core = settings.core
    uri = core.resolved_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    version = resolve_alias(tracking_uri=uri, name=core.registered_model, alias=core.model_alias)
    if version is not None:
        print(
            f"serving {core.registered_model} version {version} ('{core.model_alias}')", flush=True
        )
        return True
    if not DATA.exists():
        print(
            f"no '{core.model_alias}' model in {uri} and no {DATA} to train on: "
            "run from the repository root or `hpp train --data PATH`",
            file=sys.stderr,
        )
        return False
    print(
        f"no '{core.model_alias}' model yet: training on {DATA} (a minute or two) ...", flush=True
    )
    from hpp.ml_steps import run_train

    return run_train(data=DATA, config=CONFIG, settings=settings) == 0


def _child_environment(settings: AppSettings, *, redis_url: str, state: Path) -> dict[str, str]:
    from observability.metrics import multiprocess_env

    env = dict(os.environ) | {
        "HPP_STATE_DIR": str(state),
        "HPP_REDIS_URL": redis_url,
        "HPP_MLFLOW_TRACKING_URI": settings.core.resolved_tracking_uri(),
        "HPP_BLOB_URL": settings.core.resolved_blob_url(),
        "HPP_GATEWAY_URL": f"http://{settings.gateway.host}:{settings.gateway.port}",
    }
    env |= multiprocess_env(state / "prometheus")
    if settings.ui.ui_storage_secret is None:
        # Signs each browser's id: kept, so a restart does not hide everyone's jobs.
        env["HPP_UI_STORAGE_SECRET"] = _local_secret(state / "ui-storage-secret")
    if settings.gateway.api_keys or settings.gateway.allow_open_access:
        return env  # the operator configured access; leave it as set
    keys = _local_keys(state / KEYS_FILE)
    env["HPP_API_KEYS"] = json.dumps({name: hash_api_key(k) for name, k in keys.items()})
    env["HPP_ADMIN_KEY_NAMES"] = json.dumps([LOCAL_KEY_NAME])
    # The UI acts for each browser (X-On-Behalf-Of), so browsers see only their own jobs.
    env["HPP_DELEGATE_KEY_NAMES"] = json.dumps([UI_KEY_NAME])
    # Your own sale prices move the shared live accuracy; the web app's users' do not.
    env.setdefault("HPP_FEEDBACK_KEY_NAMES", json.dumps([LOCAL_KEY_NAME]))
    env["HPP_UI_API_KEY"] = keys[UI_KEY_NAME]
    return env


def _local_keys(path: Path) -> dict[str, str]:
    """This machine's API keys, made once and readable only by their owner."""
    if path.exists():
        keys = json.loads(path.read_text())
        if {LOCAL_KEY_NAME, UI_KEY_NAME} <= set(keys):
            return {k: str(v) for k, v in keys.items()}
    keys = {LOCAL_KEY_NAME: secrets.token_urlsafe(32), UI_KEY_NAME: secrets.token_urlsafe(32)}
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(keys, indent=2))
    return keys


def _local_secret(path: Path) -> str:
    """A random secret made once and readable only by its owner."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(secret)
    return secret


def _wait_ready(url: str, children: list[Child], stopping: object) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if callable(stopping) and stopping():
            return False
        dead = [c.name for c in children if c.process is not None and not c.alive()]
        if dead:
            print(f"{', '.join(dead)} failed to start (see the log lines above)", file=sys.stderr)
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        time.sleep(0.5)
    print(f"not ready after {READY_TIMEOUT_SECONDS:.0f} s: {url}", file=sys.stderr)
    return False


def _print_banner(*, gateway: str, ui: str, state: Path, env: dict[str, str]) -> None:
    keys = state / KEYS_FILE
    key_hint = f"key={read_key_command(keys)}" if keys.exists() else "key=<your API key>"
    print(
        "\n"
        f"  House Price Predictor is up\n"
        f"    web app      {ui}\n"
        f"    API          {gateway}/docs\n"
        f"    metrics      {gateway}/metrics\n"
        f"    API key      in {keys} ('local')\n"
        f"  try it:\n"
        f"    {key_hint}\n"
        f"    curl -s -H \"X-API-Key: $key\" -H 'Content-Type: application/json' \\\n"
        f'      -d \'{{"sqft":1656,"bedrooms":3,"bathrooms":1.5,"location":"North Ames",'
        f'"year_built":1960,"condition":"Average"}}\' {gateway}/v1/predict\n'
        f"  Ctrl-C stops everything.\n",
        flush=True,
    )


def read_key_command(keys: Path) -> str:
    """A shell expression printing the local key from ``hpp up``'s key file."""
    return f"$(python3 -c \"import json;print(json.load(open('{keys}'))['{LOCAL_KEY_NAME}'])\")"


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
