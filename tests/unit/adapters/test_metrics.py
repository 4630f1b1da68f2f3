"""The instruments where they are fed: provider calls, task runs, the hub's deliveries and
drops, and the worker's /metrics page (token and loopback rules).
"""

from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY
from taskiq import InMemoryBroker

from coagent.adapters.llm.registry import PooledProvider, ProviderRegistry
from coagent.adapters.observability import metrics
from coagent.adapters.observability.task_metrics import TaskMetrics
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    ProviderTimeout,
    StreamEvent,
    TextDelta,
    Usage,
)
from tests.fakes.llm import reply
from tests.unit.adapters.test_room_hub import COURSE, ROOM, Socket, Store, _arrive, _hub

pytestmark = pytest.mark.anyio


def sample(name: str, **labels: str) -> float:
    metrics.render()  # makes the instruments
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Provider:
    name = "openai"
    is_offline = False

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def aclose(self) -> None:
        return None

    async def complete(self, request: LLMRequest) -> Completion:
        if self.fail:
            raise ProviderTimeout("slow")
        return reply("done", usage=Usage(input_tokens=7, output_tokens=3))

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta(text="a")
        yield TextDelta(text="b")
        yield reply("ab", usage=Usage(input_tokens=5, output_tokens=2))


def registry(fail: bool = False) -> ProviderRegistry:
    def make(key: str, base_url: str | None) -> PooledProvider:
        return Provider(fail)

    return ProviderRegistry(factories={"openai": make})


async def test_provider_calls_are_counted_with_outcome_tokens_and_latency() -> None:
    model = f"metrics-{uuid4().hex[:8]}"
    request = LLMRequest(model=model, messages=(ChatMessage(role="user", content="hi"),))
    labels = {"provider": "openai", "model": model}
    providers = registry()
    provider = providers.get(provider="openai", api_key="k", base_url=None)

    await provider.complete(request)
    async with aclosing(provider.stream(request)) as events:
        assert [e async for e in events][-1].text == "ab"  # type: ignore[union-attr]
    async with aclosing(provider.stream(request)) as events:
        await anext(events)  # the caller stops early
    with pytest.raises(ProviderTimeout):
        await (
            registry(fail=True).get(provider="openai", api_key="k", base_url=None).complete(request)
        )

    assert sample("coagent_llm_calls_total", **labels, outcome="ok") == 2
    assert sample("coagent_llm_calls_total", **labels, outcome="cancelled") == 1
    assert sample("coagent_llm_calls_total", **labels, outcome="timeout") == 1
    assert sample("coagent_llm_tokens_total", **labels, direction="input") == 12
    assert sample("coagent_llm_tokens_total", **labels, direction="output") == 5
    assert sample("coagent_llm_call_duration_seconds_count", **labels) == 4
    await providers.aclose()


async def test_task_runs_are_counted_by_name_and_outcome() -> None:
    broker = InMemoryBroker()
    broker.add_middlewares(TaskMetrics())
    name = f"metrics.{uuid4().hex[:8]}"

    async def work(fail: bool) -> None:
        if fail:
            raise RuntimeError("no")

    task = broker.register_task(work, task_name=name)
    await broker.startup()
    try:
        for fail in (False, False, True):
            await task.kiq(fail)
        await broker.wait_all()
    finally:
        await broker.shutdown()
    assert sample("coagent_task_runs_total", task=name, outcome="ok") == 2
    assert sample("coagent_task_runs_total", task=name, outcome="error") == 1
    assert sample("coagent_task_duration_seconds_count", task=name) == 3


async def test_the_hub_counts_sockets_deliveries_and_drops() -> None:
    hub, bus = await _hub(Store())
    fast, slow = Socket(), Socket(room_size=1)
    opened = sample("coagent_ws_open_sockets")
    delivered = sample("coagent_ws_deliveries_total")
    drops = sample("coagent_ws_drops_total")
    for socket in (fast, slow):
        assert hub.reserve(socket.user_id, 10)
        await hub.join(ROOM, COURSE, socket, None)
    assert sample("coagent_ws_open_sockets") - opened == 2

    for seq in (1, 2, 3):
        await _arrive(bus, seq)

    assert sample("coagent_ws_deliveries_total") - delivered == 4  # 3 + the slow one's first
    assert sample("coagent_ws_drops_total") - drops == 1
    for socket in (fast, slow):
        hub.leave(ROOM, socket)
    assert sample("coagent_ws_open_sockets") == opened
    await hub.close()


@pytest.fixture
def page() -> Iterator[Any]:
    def call(token: str | None, **environ: str) -> tuple[str, bytes]:
        seen: list[str] = []
        body = metrics.wsgi_app(token)(
            {"PATH_INFO": "/metrics", "REMOTE_ADDR": "127.0.0.1", **environ},
            lambda status, headers: seen.append(status),
        )
        return seen[0], b"".join(body)

    return call


def test_the_worker_page_follows_the_web_rule(page) -> None:
    token = "worker-token-0123456789"
    assert page(None)[0] == "200 OK"
    assert b"coagent_task_runs" in page(None)[1]
    assert page(None, REMOTE_ADDR="10.1.2.3")[0] == "404 Not Found"
    assert page(None, PATH_INFO="/other")[0] == "404 Not Found"
    assert page(token)[0] == "401 Unauthorized"
    assert page(token, HTTP_AUTHORIZATION="Bearer nope")[0] == "401 Unauthorized"
    assert page(token, HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="10.1.2.3")[0] == "200 OK"


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("testclient", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_is_this_host_only(host: str | None, local: bool) -> None:
    assert metrics.is_loopback(host) is local


def test_unknown_methods_share_one_label() -> None:
    before = sample(
        "coagent_http_request_duration_seconds_count", method="OTHER", route="/x", status="405"
    )
    metrics.observe_request("BREW", "/x", 405, 0.001)
    metrics.observe_request("PROPFIND", "/x", 405, 0.001)
    after = sample(
        "coagent_http_request_duration_seconds_count", method="OTHER", route="/x", status="405"
    )
    assert after - before == 2
    brew = {"method": "BREW", "route": "/x", "status": "405"}
    assert REGISTRY.get_sample_value("coagent_http_request_duration_seconds_count", brew) is None
