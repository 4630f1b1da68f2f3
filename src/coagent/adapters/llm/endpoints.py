"""EndpointGuard: which hosts a provider call may connect to, checked twice.

A `base_url` is a URL a course's staff type in, and the server then connects to it with a
provider key: without a guard that is a request forgery (SSRF) into the server's own network
(cloud metadata at 169.254.169.254, databases, admin ports on 127.0.0.1). So:

- When a configuration is saved, `check_base_url` refuses a URL whose host is, as text, an
  address in a refused range (`127.0.0.1`, `[::1]`, `10.0.0.1`, `2130706433`, `0x7f.1`), a
  `localhost` name, or a metadata service's name: a clear 422 at once.
- At every connection, the guarded transport's network backend resolves the host itself,
  refuses the connection unless every address it resolves to is allowed, and connects to
  those very addresses (TLS still checks the certificate against the host name). A name that
  passed the first check but now resolves to an internal address (DNS rebinding) is caught
  here, before a byte (or a key) is sent: `ProviderEndpointRefused`.

Refused unless allowed: loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16,
fe80::/10), shared (100.64.0.0/10), unspecified, multicast, reserved and site-local addresses,
also when embedded in IPv6 (IPv4-mapped, 6to4, NAT64). `LLM_ALLOWED_HOSTS` lists host names
(trusted whatever they resolve to) and CIDR ranges that are allowed anyway. The clients are
built with `trust_env=False`: an environment proxy would make the connection on our behalf,
past the check.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit

import httpcore2
import httpx2

from coagent.domain.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# The embedded default: a local Ollama or test server works with no set-up.
LOOPBACK: Final = ("localhost", "127.0.0.0/8", "::1")
# Names of cloud metadata services: internal whatever a resolver says.
METADATA_NAMES: Final = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_ADDRESS: Final = ipaddress.IPv4Address("127.0.0.1")

REFUSED_TEXT: Final = (
    "base_url must not point to a loopback, private, link-local or other internal address "
    "(here {host}); an operator may allow the host with LLM_ALLOWED_HOSTS"
)


class RefusedAddress(httpcore2.ConnectError):
    """A connection the guard refused; raised inside the transport, before connecting."""


def parse_allowed(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Host names (lower-cased) and CIDR ranges; raises ValueError for anything else."""
    names: set[str] = set()
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        labels = entry.split(".")
        if not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
            for label in labels
        ):
            raise ValueError(f"{raw!r} is neither a host name nor a CIDR range")
        names.add(entry)
    return frozenset(names), tuple(networks)


def literal_address(host: str) -> Address | None:
    """The address a host written as an address stands for, in any form a resolver accepts
    (`127.0.0.1`, `::1`, `2130706433`, `0x7f.1`, `127.1`); None for a name.
    """
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def refused_by_guard(error: BaseException) -> bool:
    """Whether an SDK error was caused by the guard refusing the connection."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, RefusedAddress):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EndpointGuard:
    """The `EndpointPolicy` port (the save-time check) and the connection-time check."""

    def __init__(self, allowed: Iterable[str] = (), *, resolve: Resolver | None = None) -> None:
        self._names, self._networks = parse_allowed(allowed)
        self._resolve = resolve or system_resolver
        self._ssl: ssl.SSLContext | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """One verifying context for every client (loading the CA bundle costs ~30 ms)."""
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
        return self._ssl

    def __repr__(self) -> str:
        return f"EndpointGuard(names={sorted(self._names)}, networks={list(self._networks)})"

    def address_allowed(self, address: Address) -> bool:
        if any(address in network for network in self._networks):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            embedded = address.ipv4_mapped or address.sixtofour
            if embedded is None and address in _NAT64:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if embedded is not None:
                return self.address_allowed(embedded)
            if address.is_site_local:
                return False
        return address.is_global and not (address.is_multicast or address.is_reserved)

    def check_base_url(self, base_url: str) -> None:
        """Raises `InvalidInput` when the URL's host is refused as written (no DNS lookup:
        a name is checked again, resolved, at every connection).
        """
        scheme = base_url.split(":", 1)[0].lower()
        try:
            host = (urlsplit(base_url).hostname or "").lower()
        except ValueError:  # brackets around something that is no IPv6 address: "[D84]"
            host = ""
        if scheme not in {"http", "https"} or not host:
            raise InvalidInput("base_url must be an http(s) URL with a valid host")
        if host in self._names:
            return
        address = literal_address(host)
        if address is None and (host == "localhost" or host.endswith(".localhost")):
            address = _LOOPBACK_ADDRESS
        if host in METADATA_NAMES or (address is not None and not self.address_allowed(address)):
            raise InvalidInput(REFUSED_TEXT.format(host=host))

    async def addresses(self, host: str, port: int) -> list[str]:
        """Where a connection to `host` may go: every address it resolves to, if all are
        allowed; the host itself when it is allowed by name. Raises `RefusedAddress`.
        """
        name = host.lower()
        if name in self._names:
            return [host]
        if name in METADATA_NAMES:
            raise RefusedAddress(f"{host} is a metadata service")
        literal = literal_address(host)
        if literal is not None:
            found: list[Address] = [literal]
        else:
            try:
                resolved = await self._resolve(host, port)
            except OSError as error:
                raise httpcore2.ConnectError(f"{host} could not be resolved") from error
            found = [ipaddress.ip_address(text.split("%", 1)[0]) for text in resolved]
        if not found:
            raise httpcore2.ConnectError(f"{host} resolves to no address")
        if not all(self.address_allowed(address) for address in found):
            raise RefusedAddress(f"{host} resolves to an address calls may not go to")
        return [str(address) for address in found]

    def transport(self, limits: httpx2.Limits | None = None) -> "GuardedTransport":
        return GuardedTransport(self, limits=limits)

    def client(self, limits: httpx2.Limits | None = None) -> httpx2.AsyncClient:
        """An httpx client that connects only where the guard allows, and ignores proxy
        settings of the environment (a proxy would connect past the check).
        """
        return httpx2.AsyncClient(transport=self.transport(limits), trust_env=False)


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Resolves and checks the host, then connects to a checked address (never the name)."""

    def __init__(self, guard: EndpointGuard) -> None:
        self._guard = guard
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.addresses(host, port)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from None
        failure: Exception = httpcore2.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise RefusedAddress("provider calls never use a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection is checked. Its
    methods use only `_pool`, which is built here (with the guarded network backend) instead
    of by the base initializer (which would build an unguarded one).
    """

    def __init__(self, guard: EndpointGuard, *, limits: httpx2.Limits | None = None) -> None:
        limits = limits or httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=guard.ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )
