"""Address and URL rules for server-side fetches (SSRF guard): which hosts a download may reach."""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.parse
from collections.abc import Callable

from .errors import AInfError, ErrorCode
from .redact import is_secret_key, register_secret

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

ALLOW_LOCAL_ENV = "AINFLUENCER_ALLOW_LOCAL_DOWNLOADS"
# Cloud metadata endpoints: refused even when local sources are allowed.
ALWAYS_REFUSED = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_DENY_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Query parameters that never carry secrets and stay readable in logs.
_PLAIN_QUERY_KEYS = frozenset({"download", "type", "format", "size", "fp", "version", "revision", "raw"})


def local_sources_allowed(setting: bool = False) -> bool:
    """True when the user enabled local sources (the setting, or AINFLUENCER_ALLOW_LOCAL_DOWNLOADS=1)."""
    return setting or os.environ.get(ALLOW_LOCAL_ENV, "").strip() == "1"


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address (else itself)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    """True for a globally routable address outside every private, loopback, link-local or multicast range."""
    inner = unwrap(address)
    if not inner.is_global or inner.is_multicast:
        return False
    return not any(inner in net for net in _DENY_NETWORKS if net.version == inner.version)


def check_address(raw: str, allow_local: bool, allowed: frozenset[str] = frozenset()) -> IPAddress:
    """Refuse an address a download must not reach (`allowed`: addresses the user allow-listed)."""
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"{raw!r} is not an IP address.") from None
    inner = unwrap(address)
    if address in ALWAYS_REFUSED or inner in ALWAYS_REFUSED:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "Downloads from the cloud metadata address are refused.",
            detail={"address": str(address)},
            remediation=["Use a public download URL."],
        )
    if (
        not allow_local
        and not is_public(address)
        and str(inner) not in allowed
        and str(address) not in allowed
    ):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "The download host resolves to a private, loopback, link-local or multicast address.",
            detail={"address": str(address)},
            remediation=[
                "Use a public download URL.",
                f"To download from your own network on purpose, set {ALLOW_LOCAL_ENV}=1.",
            ],
        )
    return address


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host:port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AInfError(
            ErrorCode.DOWNLOAD_FAILED, f"The host {host!r} could not be resolved.", detail=str(exc)
        ) from None
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def resolve_checked(
    host: str,
    port: int,
    allow_local: bool,
    resolver: Resolver | None = None,
    allowed: frozenset[str] = frozenset(),
) -> list[str]:
    """Resolve a host and refuse it when any of its addresses is not allowed."""
    addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise AInfError(ErrorCode.DOWNLOAD_FAILED, f"The host {host!r} has no addresses.")
    for addr in addresses:
        check_address(addr, allow_local, allowed)
    return addresses


def check_url(url: str) -> urllib.parse.SplitResult:
    """Refuse anything but an http(s) URL with a host and without user:password."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, "The URL is not valid.", detail={"url": redact_url(url)}
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "Only http and https URLs can be downloaded.",
            detail={"url": redact_url(url), "scheme": parts.scheme},
            remediation=["Give an https:// URL of the model file."],
        )
    if not parts.hostname:
        raise AInfError(ErrorCode.VALIDATION_ERROR, "The URL has no host.", detail={"url": redact_url(url)})
    if parts.username is not None or parts.password is not None:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "URLs with user:password are refused.",
            detail={"url": redact_url(url)},
            remediation=["Remove the credentials from the URL."],
        )
    return parts


def redact_url(url: str) -> str:
    """The URL with credentials and query values masked (values are also registered as secrets)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = []
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if value and (is_secret_key(key) or key.lower() not in _PLAIN_QUERY_KEYS):
            register_secret(value)
            value = "***"
        query.append(f"{key}={value}" if value else key)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), ""))
