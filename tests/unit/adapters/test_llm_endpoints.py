"""EndpointGuard: the base_url check when a configuration is saved, and the address check
of every connection (with a scripted resolver: what a DNS server answers).
"""

import contextlib
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpcore2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coagent.adapters.llm.endpoints import (
    LOOPBACK,
    EndpointGuard,
    RefusedAddress,
    literal_address,
    parse_allowed,
    refused_by_guard,
)
from coagent.domain.agents.config import BASE_URL_PATTERN
from coagent.domain.errors import InvalidInput

pytestmark = pytest.mark.anyio

REFUSED_HOSTS = [
    "127.0.0.1",
    "127.8.9.10",
    "[::1]",
    "localhost",
    "api.localhost",
    "0.0.0.0",  # noqa: S104  # the unspecified address, as a value under test
    "[::]",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.20",
    "169.254.169.254",  # cloud metadata
    "[fe80::1]",
    "[fd00:ec2::254]",  # AWS metadata over IPv6 (fc00::/7)
    "[fec0::1]",  # site-local
    "100.64.0.1",  # shared address space
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
    "240.0.0.1",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:169.254.169.254]",
    "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 around 169.254.169.254
    "2130706433",  # 127.0.0.1 as one number
    "0x7f.1",  # 127.0.0.1 in hex, short form
    "127.1",
    "metadata.google.internal",
    "metadata",
]
ALLOWED_HOSTS = [
    "api.openai.com",
    "generativelanguage.googleapis.com",
    "8.8.8.8",
    "[2606:4700::1111]",
    "llm.example.org",
    "host-with-10.0.0.1-in-name.example",
]


class Resolver:
    """A scripted DNS: host -> addresses; records every lookup."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("host", REFUSED_HOSTS)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_internal_hosts_are_refused_when_saved(host: str, scheme: str) -> None:
    with pytest.raises(InvalidInput, match="LLM_ALLOWED_HOSTS"):
        EndpointGuard().check_base_url(f"{scheme}://{host}:8080/v1")


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_public_hosts_and_names_pass_when_saved(host: str) -> None:
    EndpointGuard().check_base_url(f"https://{host}/v1")  # names are checked at each call


def test_only_http_urls_with_a_host_are_accepted() -> None:
    for url in (
        "ftp://api.openai.com/v1",
        "file:///etc/passwd",
        "http:///v1",
        "gopher://x",
        "http://[D84]:36194",  # brackets around no IPv6 address (found by the fuzz run)
        "http://[1::2::3]/v1",
        "http://[::1",
    ):
        with pytest.raises(InvalidInput):
            EndpointGuard().check_base_url(url)


def test_the_loopback_default_allows_local_servers_only() -> None:
    guard = EndpointGuard(LOOPBACK)
    for url in ("http://localhost:11434/v1", "http://127.0.0.1:8000", "http://[::1]:1/v1"):
        guard.check_base_url(url)
    for url in ("http://10.0.0.5/v1", "http://169.254.169.254/", "http://[fe80::1]/"):
        with pytest.raises(InvalidInput):
            guard.check_base_url(url)


def test_operators_allow_names_and_ranges() -> None:
    guard = EndpointGuard(["ollama.lan", "10.20.0.0/16", "fd00::/8", "Metadata"])
    guard.check_base_url("http://OLLAMA.lan:11434/v1")
    guard.check_base_url("http://10.20.3.4/v1")
    guard.check_base_url("http://[fd00::5]/v1")
    guard.check_base_url("http://metadata/")  # named explicitly: the operator's choice
    for url in ("http://10.21.0.1/v1", "http://127.0.0.1/v1", "http://localhost/v1"):
        with pytest.raises(InvalidInput):
            guard.check_base_url(url)


def test_allowed_entries_must_be_names_or_ranges() -> None:
    assert parse_allowed([" LocalHost ", "127.0.0.0/8", "::1", ""]) == (
        frozenset({"localhost"}),
        parse_allowed(["127.0.0.0/8", "::1"])[1],
    )
    for bad in ("http://x", "10.0.0.0/33", "a b", "x_y.example", "*.example.org"):
        with pytest.raises(ValueError, match="neither"):
            parse_allowed([bad])


def test_literal_addresses_in_every_spelling() -> None:
    assert str(literal_address("2130706433")) == "127.0.0.1"
    assert str(literal_address("0x7f.0.0.1")) == "127.0.0.1"
    assert str(literal_address("[::1]")) == "::1"
    assert literal_address("api.openai.com") is None


async def test_a_name_that_resolves_inside_is_refused_at_connection_time() -> None:
    """DNS rebinding: the name passed the save-time check, then resolves to metadata."""
    dns = Resolver({"llm.example.org": ["169.254.169.254"]})
    guard = EndpointGuard(resolve=dns)
    guard.check_base_url("https://llm.example.org/v1")

    with pytest.raises(RefusedAddress):
        await guard.addresses("llm.example.org", 443)
    assert dns.asked == ["llm.example.org"]


async def test_every_resolved_address_must_be_allowed() -> None:
    dns = Resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"], "ok.example": ["8.8.8.8"]})
    guard = EndpointGuard(resolve=dns)

    with pytest.raises(RefusedAddress):
        await guard.addresses("mixed.example", 443)
    assert await guard.addresses("ok.example", 443) == ["8.8.8.8"]
    assert await EndpointGuard(["10.0.0.0/8"], resolve=dns).addresses("mixed.example", 443) == [
        "93.184.216.34",
        "10.0.0.7",
    ]


async def test_literals_and_allowed_names_are_not_resolved() -> None:
    dns = Resolver({})
    guard = EndpointGuard(["ollama.lan", "127.0.0.0/8"], resolve=dns)

    assert await guard.addresses("ollama.lan", 11434) == ["ollama.lan"]  # trusted by name
    assert await guard.addresses("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(RefusedAddress):
        await guard.addresses("::1", 80)
    with pytest.raises(RefusedAddress):
        await guard.addresses("metadata.google.internal", 80)
    with pytest.raises(httpcore2.ConnectError):  # an unknown name: unreachable, not refused
        await EndpointGuard(resolve=dns).addresses("nowhere.example", 80)
    assert dns.asked == ["nowhere.example"]


def test_a_refusal_is_found_through_the_sdk_wrappers() -> None:
    def wrap() -> None:
        try:
            raise RefusedAddress("x")
        except RefusedAddress as inner:
            raise ConnectionError("wrapped") from inner

    with pytest.raises(ConnectionError) as caught:
        wrap()
    assert refused_by_guard(caught.value)
    assert not refused_by_guard(ConnectionError("plain"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url=st.from_regex(BASE_URL_PATTERN, fullmatch=True))
def test_every_base_url_the_schema_accepts_is_judged_never_a_crash(url: str) -> None:
    """The HTTP schema and the domain share BASE_URL_PATTERN: whatever it lets through has a
    host Python can parse (no "[D84]"), so the check answers yes or InvalidInput, never 500.
    """
    host = urlsplit(url).hostname
    assert host
    if url.split("//", 1)[1].startswith("["):
        ipaddress.ip_address(host)
    with contextlib.suppress(InvalidInput):  # a refusal is an answer
        EndpointGuard().check_base_url(url)
