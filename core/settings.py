"""Typed settings, one class per concern, all read from ``HPP_*`` environment variables.

Entry points read them once through the cached getters and pass them down; tests build
the classes directly (``GatewaySettings(api_keys={...})``) instead of patching the
environment. Field names are the environment names without the prefix, so the infra
templates can be checked against them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "HPP_"


def _config() -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", protected_namespaces=()
    )


class CoreSettings(BaseSettings):
    """What every service shares: where state, Redis, blobs and the model registry live."""

    model_config = _config()

    environment: str = "local"
    state_dir: Path = Path(".hpp")
    redis_url: str | None = None
    blob_url: str | None = None
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HPP_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    registered_model: str = "house-price"
    # A category like no name the model knows: priced as unknown with a warning ("warn")
    # or refused ("error"); a request (?unknown_categories=) or a job may choose otherwise.
    # Near misses of a known name are refused either way.
    unknown_categories: Literal["warn", "error"] = "warn"
    model_alias: str = "champion"
    # A version on trial: scored in shadow on live traffic, or answering a share of it (A/B).
    challenger_alias: str = "challenger"
    # Live monitoring: recent predictions kept for feedback, windows for accuracy and drift.
    prediction_ttl_seconds: int = 30 * 24 * 3600
    prediction_log_max: int = 200_000
    feedback_window: int = 2_000
    drift_window: int = 5_000
    drift_psi_threshold: float = 0.2
    # Continuous training (workers/lifecycle.py): a retrain is requested when live PSI stays
    # above the threshold for retrain_drift_windows consecutive windows of
    # retrain_window_seconds, or when live accuracy breaks a gate; one request per episode
    # (an episode ends when the condition clears, or after retrain_episode_seconds).
    loop_enabled: bool = True
    retrain_drift_windows: int = Field(default=3, ge=1)
    retrain_window_seconds: float = Field(default=3600.0, gt=0)
    retrain_episode_seconds: int = Field(default=24 * 3600, ge=1)
    training_data: Path = Path("data/house_data.csv")
    training_config: Path = Path("ml/config.yaml")
    # Audit trail: every prediction in a hash chain (audit/); heads signed with audit_key.
    audit_enabled: bool = True
    audit_url: str | None = None
    audit_key: SecretStr | None = None
    audit_rotate_bytes: int = 64 * 1024 * 1024
    audit_flush_seconds: float = 1.0
    audit_flush_records: int = 1_000
    audit_max_buffer: int = 100_000
    # Jobs from a pointer (POST /v1/jobs with a JSON body): API key name -> the blob-store
    # prefixes (folders, relative to HPP_BLOB_URL) it may read inputs from and write
    # results to. A key not listed may not use pointers; jobs/ (every job's own files) is
    # never readable this way, whatever is listed.
    input_prefixes: dict[str, list[str]] = Field(default_factory=dict)

    # Completion notices (jobs/notices.py, workers/notices.py). A job may name a webhook
    # URL: https only, on one of these hosts ("hooks.example.com", or "*.example.com" for
    # its subdomains), never resolving to a private, loopback or link-local address.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    # API key name -> the secret that signs its notices (HMAC-SHA256); from a secret store.
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # A failed delivery is retried after backoff, 2x, 4x, ... (capped at 5 min) for at
    # most webhook_retry_seconds after the job finished; each attempt waits timeout_seconds.
    webhook_backoff_seconds: float = Field(default=2.0, gt=0)
    webhook_retry_seconds: float = Field(default=900.0, ge=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # TESTS ONLY: lets webhooks go over plain http to loopback addresses (a receiver in a
    # test). Never set it anywhere else: it opens the notifier to requests to this machine.
    unsafe_webhooks_to_loopback_for_tests: bool = False
    # On AWS: every final state is also published to this SNS topic (one per environment).
    notices_topic_arn: str | None = None
    # A final state owes its notices in Redis (jobs/outbox.py) until they are sent; an owed
    # notice with no task on its way after this long is queued again by ``hpp notifier``.
    notice_grace_seconds: float = Field(default=30.0, gt=0)
    # The gateway's public address, for the result link in notices (else a relative path).
    public_url: str | None = None

    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI, defaulting to a SQLite file in the state folder."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.state_dir / 'mlflow.db').resolve()}"

    def resolved_blob_url(self) -> str:
        """The blob store URL, defaulting to a local folder in the state folder."""
        if self.blob_url:
            return self.blob_url
        return (self.state_dir / "blobs").resolve().as_uri()

    def resolved_audit_url(self) -> str:
        """Where the audit trail goes, defaulting to a folder in the state folder."""
        if self.audit_url:
            return self.audit_url
        return (self.state_dir / "audit").resolve().as_uri()

    def audit_key_bytes(self) -> bytes | None:
        """The key that signs the audit heads (None: heads are unsigned)."""
        return None if self.audit_key is None else self.audit_key.get_secret_value().encode()

    def champion_uri(self) -> str:
        """The registry URI the serving model follows."""
        return f"models:/{self.registered_model}@{self.model_alias}"

    def challenger_uri(self) -> str:
        """The registry URI of the version on trial (shadow or A/B)."""
        return f"models:/{self.registered_model}@{self.challenger_alias}"


class GatewaySettings(BaseSettings):
    """The HTTP gateway: binding, auth, limits."""

    model_config = _config()

    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 1
    # name -> sha256 hex digest of the key; the key itself is never stored.
    api_keys: dict[str, str] = Field(default_factory=dict)
    admin_key_names: list[str] = Field(default_factory=list)
    # Keys that may act for an end user (X-On-Behalf-Of: id), who then owns what they make.
    delegate_key_names: list[str] = Field(default_factory=list)
    # Keys whose sale prices move the shared live-accuracy figures (never for an end user).
    feedback_key_names: list[str] = Field(default_factory=list)
    # Reported prices outside this range, or this factor outside the interval, are held.
    feedback_price_min: float = Field(default=10_000.0, gt=0)
    feedback_price_max: float = Field(default=10_000_000.0, gt=0)
    feedback_interval_factor: float = Field(default=3.0, ge=1.0)
    # Without keys, the gateway serves anyone, but only when bound to loopback.
    allow_open_access: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    docs_enabled: bool = True
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 500 * 1024 * 1024
    max_batch_rows: int = 1_000
    max_json_depth: int = 32
    # Files one pointer job may name (a prefix of more is refused with 422).
    max_input_files: int = 10_000
    rate_limit_per_minute: int = 6_000
    # Under a delegate key, each end user's share of the key's per-minute budget.
    rate_limit_per_end_user_per_minute: int = 600
    # "redis": one budget across every gateway process (when HPP_REDIS_URL is set; while
    # Redis is unreachable each process falls back to its own); "local": per process.
    rate_limit_backend: Literal["redis", "local"] = "redis"
    # The most tokens a process holds of one bucket (0: 1/300 of the budget, at least 1;
    # each round trip leases about 0.1 s of the process's own traffic, up to this), and how
    # long an unspent lease is kept.
    rate_limit_lease_tokens: int = Field(default=0, ge=0)
    rate_limit_lease_seconds: float = Field(default=1.0, gt=0)
    # Queued or running jobs per owner (a key, or one end user of a delegate key), and per
    # key with all its end users; beyond them POST /v1/jobs answers 429.
    max_active_jobs: int = 20
    max_active_jobs_per_key: int = 200
    model_poll_seconds: float = 30.0
    # What the gateway does with the challenger alias's version, when there is one:
    # shadow (score it after each response, record both prices), ab (it answers a sticky
    # share of end users, the champion is scored in shadow for them), off (ignore it).
    challenger_mode: Literal["off", "shadow", "ab"] = "shadow"
    ab_challenger_weight: float = Field(default=0.1, ge=0.0, le=1.0)
    # Connections per process and the time each phase of a request may take.
    max_connections: int = 2_048
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    min_body_bytes_per_second: int = 1_024
    keep_alive_seconds: int = 75
    # Redis connections per gateway process (a burst beyond waits briefly for one).
    redis_max_connections: int = 100
    # Concurrent progress streams: per caller (key or end user), per key, per process.
    max_streams_per_owner: int = 10
    max_streams_per_key: int = 200
    max_streams: int = 1_000


class WorkerSettings(BaseSettings):
    """Batch scoring: chunking, delivery guarantees, retention."""

    model_config = _config()

    chunk_rows: int = 50_000
    # A chunk also closes once it holds this many bytes (long rows make small chunks).
    chunk_bytes: int = 32 << 20
    # Input files: the longest row, the header's size and column count (larger: the job fails).
    max_record_bytes: int = 16 << 20
    max_header_bytes: int = 64 << 10
    max_columns: int = 1_000
    # Every task is stopped after these (soft: it fails the job with the reason; hard: the
    # process is killed). Keep the hard limit under the visibility timeout.
    task_soft_time_limit_seconds: float = 600.0
    task_time_limit_seconds: float = 660.0
    # Job steps waiting in the broker at once; the rest wait in per-owner queues and are
    # sent round-robin, so one owner's backlog cannot starve the others.
    dispatch_depth: int = 4
    max_chunk_attempts: int = 3
    visibility_timeout_seconds: int = 900
    # How often a worker looks for jobs stalled by a message the broker lost (0: never).
    watchdog_seconds: float = 30.0
    worker_concurrency: int = 1
    result_ttl_seconds: int = 7 * 24 * 3600
    jobs_per_page: int = 20


class UISettings(BaseSettings):
    """The NiceGUI web app."""

    model_config = _config()

    ui_host: str = "127.0.0.1"
    ui_port: int = 8501
    gateway_url: str = "http://127.0.0.1:8000"
    ui_api_key: SecretStr | None = None
    ui_storage_secret: SecretStr | None = None
    # Served over HTTPS (e.g. behind the ALB): Secure session cookie and HSTS.
    ui_behind_https: bool = False


class ObservabilitySettings(BaseSettings):
    """Logs and metrics."""

    model_config = _config()

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    metrics_backend: Literal["none", "emf", "cloudwatch"] = "none"
    metrics_namespace: str = "HousePricePredictor"
    metrics_flush_seconds: float = 10.0
    metrics_buffer_size: int = 10_000
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    worker_metrics_port: int | None = None


SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    CoreSettings,
    GatewaySettings,
    WorkerSettings,
    UISettings,
    ObservabilitySettings,
)


def hash_api_key(key: str) -> str:
    """The sha256 hex digest under which an API key is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


def environment_names() -> set[str]:
    """Every environment variable name the settings read."""
    names = {ENV_PREFIX + name.upper() for cls in SETTINGS_CLASSES for name in cls.model_fields}
    return names | {"MLFLOW_TRACKING_URI"}


@lru_cache
def get_core_settings() -> CoreSettings:
    """Core settings, read once per process."""
    return CoreSettings()


@lru_cache
def get_gateway_settings() -> GatewaySettings:
    """Gateway settings, read once per process."""
    return GatewaySettings()


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """Worker settings, read once per process."""
    return WorkerSettings()


@lru_cache
def get_ui_settings() -> UISettings:
    """UI settings, read once per process."""
    return UISettings()


@lru_cache
def get_observability_settings() -> ObservabilitySettings:
    """Observability settings, read once per process."""
    return ObservabilitySettings()


@dataclass(frozen=True)
class AppSettings:
    """All settings of one process, built once by an entry point and passed down."""

    core: CoreSettings
    gateway: GatewaySettings
    worker: WorkerSettings
    ui: UISettings
    observability: ObservabilitySettings

    @classmethod
    def from_env(cls) -> AppSettings:
        """Every settings class read from the environment (cached per process)."""
        return cls(
            core=get_core_settings(),
            gateway=get_gateway_settings(),
            worker=get_worker_settings(),
            ui=get_ui_settings(),
            observability=get_observability_settings(),
        )
