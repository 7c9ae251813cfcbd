"""API-key authentication: keys are configured as sha256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

import structlog

from core.settings import GatewaySettings

API_KEY_HEADER = "X-API-Key"
ON_BEHALF_OF_HEADER = "X-On-Behalf-Of"
ANONYMOUS = "anonymous"
# An end user's opaque id as a delegate key sends it (the web UI: a random id per browser).
_ON_BEHALF_OF = re.compile(r"[A-Za-z0-9_-]{1,64}")

logger = structlog.get_logger("gateway.security")


class InsecureConfigError(RuntimeError):
    """The gateway would serve without authentication where that is not allowed."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the key's name (never the key), admin or not, the end user it acts for."""

    name: str
    is_admin: bool
    on_behalf_of: str | None = None

    @property
    def owner(self) -> str:
        """Whose jobs, predictions and feedback these are: the key, or ``key/user``."""
        return f"{self.name}/{self.on_behalf_of}" if self.on_behalf_of else self.name


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The configured keys and whether key-less callers are let in (open mode)."""

    key_hashes: tuple[tuple[str, bytes], ...]
    admin_names: frozenset[str]
    open_access: bool
    delegate_names: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> AccessPolicy:
        """Build the policy, refusing configurations that would expose an open gateway."""
        hashes = tuple(
            (name, _digest_bytes(name, digest)) for name, digest in settings.api_keys.items()
        )
        loopback = is_loopback(settings.host)
        if settings.allow_open_access and not loopback:
            if not hashes:
                raise InsecureConfigError(
                    f"HPP_ALLOW_OPEN_ACCESS is set but HPP_HOST={settings.host!r} is not a "
                    "loopback address; open access is only allowed on loopback. Configure "
                    "HPP_API_KEYS (name -> sha256 of the key) or bind to 127.0.0.1."
                )
            logger.warning("open_access_ignored", reason="host is not loopback", host=settings.host)
        open_access = settings.allow_open_access and loopback
        if not hashes and not open_access:
            raise InsecureConfigError(
                "No API keys configured: set HPP_API_KEYS to a JSON object of "
                '{"name": "<sha256 hex of the key>"} (see core.settings.hash_api_key), or set '
                "HPP_ALLOW_OPEN_ACCESS=true while bound to loopback for local use."
            )
        return cls(
            key_hashes=hashes,
            admin_names=frozenset(settings.admin_key_names),
            open_access=open_access,
            delegate_names=frozenset(settings.delegate_key_names),
        )

    def identify(self, presented_key: str | None) -> Caller | None:
        """The caller a presented key belongs to; ``None`` when it must be refused."""
        if presented_key is None:
            return Caller(ANONYMOUS, is_admin=True) if self.open_access else None
        digest = hashlib.sha256(presented_key.encode("utf-8", "surrogateescape")).digest()
        match: str | None = None
        # Compare against every key, so timing says nothing about which (if any) matched.
        for name, expected in self.key_hashes:
            if hmac.compare_digest(digest, expected):
                match = name
        if match is None:
            return None
        return Caller(match, is_admin=match in self.admin_names)


def is_valid_on_behalf_of(value: str) -> bool:
    """Whether an ``X-On-Behalf-Of`` value is a well-formed end-user id (1-64 of A-Za-z0-9_-)."""
    return _ON_BEHALF_OF.fullmatch(value) is not None


def is_loopback(host: str) -> bool:
    """Whether a bind host only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _digest_bytes(name: str, digest: str) -> bytes:
    try:
        raw = bytes.fromhex(digest.strip())
    except ValueError:
        raw = b""
    if len(raw) != hashlib.sha256().digest_size:
        raise InsecureConfigError(
            f"API key {name!r} is not configured as a sha256 hex digest "
            "(use core.settings.hash_api_key(key))."
        )
    return raw
