"""Where a completion notice may go: the webhook URL rules, checked twice (SSRF).

A URL is taken only when it is ``https``, names a host on the configured allow list, has no
user info, and every address its host resolves to is a public one (not private, loopback,
link-local, shared, reserved, multicast or unspecified; an IPv4 address inside IPv6 is
judged as IPv4). The gateway checks when a job is created (a 422 there); the notifier checks
again when it sends, and then connects to the very address it checked (``Target.address``),
so a DNS answer that changes in between (rebinding) cannot steer the request inward.

``unsafe_webhooks_to_loopback_for_tests`` additionally allows ``http`` and loopback
addresses (a receiver inside a test); the host must still be on the allow list.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.settings import CoreSettings

MAX_URL_LENGTH = 2_048
# host, port -> the addresses it resolves to (tests pass their own; DNS otherwise).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class WebhookUrlError(ValueError):
    """A webhook URL that breaks the rules; the message says which."""


class HostNotResolvedError(WebhookUrlError):
    """The URL's host does not resolve now (may be passing: the notifier retries)."""


@dataclass(frozen=True)
class WebhookPolicy:
    """The configured rules: the allowed hosts, and the test-only loopback permission."""

    allowed_hosts: tuple[str, ...]
    allow_loopback_http: bool = False

    @classmethod
    def from_settings(cls, core: CoreSettings) -> WebhookPolicy:
        """The policy the settings configure."""
        return cls(
            allowed_hosts=tuple(core.webhook_allowed_hosts),
            allow_loopback_http=core.unsafe_webhooks_to_loopback_for_tests,
        )

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` is listed (exactly, or under a ``*.domain`` entry)."""
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            entry = entry.lower().rstrip(".")
            if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
                return True
            if host == entry:
                return True
        return False


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address the request must connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def parse_webhook_url(url: str, policy: WebhookPolicy) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL that passes the rules short of resolving it."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"webhook_url is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"webhook_url is not a URL ({exc}).") from None
    schemes = ("https", "http") if policy.allow_loopback_http else ("https",)
    if parts.scheme not in schemes:
        raise WebhookUrlError("webhook_url must be an https:// URL.")
    host = parts.hostname
    if not host:
        raise WebhookUrlError("webhook_url has no host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("webhook_url must not carry a user name or password.")
    if not policy.allows_host(host):
        raise WebhookUrlError(
            f"webhook_url's host {host!r} is not one this service may notify "
            "(HPP_WEBHOOK_ALLOWED_HOSTS)."
        )
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


async def check_webhook_url(
    url: str, policy: WebhookPolicy, *, resolve: Resolver | None = None
) -> Target:
    """The URL's target if it passes every rule, every resolved address included."""
    scheme, host, port = parse_webhook_url(url, policy)
    try:
        addresses = await (resolve or resolve_host)(host, port)
    except OSError as exc:
        raise HostNotResolvedError(
            f"webhook_url's host {host!r} does not resolve ({exc})."
        ) from None
    if not addresses:
        raise HostNotResolvedError(f"webhook_url's host {host!r} does not resolve.")
    for address in addresses:
        refusal = address_refusal(address, allow_loopback=policy.allow_loopback_http)
        if refusal:
            raise WebhookUrlError(
                f"webhook_url's host {host!r} resolves to {address}, {refusal}; "
                "notices go to public addresses only."
            )
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=addresses[0])


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a notice may not go to ``address`` (None: it may)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_multicast:
        return "not a public address"
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
