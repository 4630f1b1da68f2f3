"""CallModel: key order and fallback, bounded retries, no retry after a stream started."""

from collections.abc import AsyncGenerator
from contextlib import aclosing

import pytest

from coagent.application.llm.call_model import CallModel, ModelChoice, RetryPolicy
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEvent,
    TextDelta,
)
from coagent.domain.errors import InvalidInput
from tests.fakes.llm import ScriptedLLM, ScriptedProviders, reply
from tests.fakes.security import FakeSecretBox

pytestmark = pytest.mark.anyio

OPENAI = ModelChoice(provider="openai", model="gpt-test")
REQUEST = LLMRequest(model="ignored", messages=(ChatMessage(role="user", content="hi"),))


class RecordingSecretBox(FakeSecretBox):
    """Logs each decryption into a shared journal, next to the provider lookups."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__(["box-key"])
        self.journal = journal

    def decrypt(self, ciphertext: str) -> str:
        plaintext = super().decrypt(ciphertext)
        self.journal.append(f"decrypt {plaintext}")
        return plaintext


class JournalProviders(ScriptedProviders):
    def __init__(self, journal: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.journal = journal

    def get(self, *, provider: str, api_key: str | None, base_url: str | None):  # type: ignore[no-untyped-def]
        self.journal.append(f"get {api_key}")
        return super().get(provider=provider, api_key=api_key, base_url=base_url)


class Harness:
    def __init__(self, per_key: dict[str, ScriptedLLM], *, max_retries: int = 2) -> None:
        self.journal: list[str] = []
        self.secrets = RecordingSecretBox(self.journal)
        self.providers = JournalProviders(self.journal, per_key=per_key)
        self.sleeps: list[float] = []
        self.call = CallModel(
            providers=self.providers,
            secrets=self.secrets,
            policy=RetryPolicy(max_retries=max_retries, base_delay=1.0, max_delay=8.0),
            sleep=self._sleep,
            jitter=lambda: 1.0,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def keys(self, *plaintexts: str) -> list[str]:
        return [self.secrets.encrypt(p) for p in plaintexts]

    async def collect(self, choice: ModelChoice, keys: list[str]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        async with aclosing(self.call.stream(choice, keys, REQUEST)) as stream:
            events.extend([event async for event in stream])
        return events


async def drain(stream: AsyncGenerator[StreamEvent, None], seen: list[StreamEvent]) -> None:
    """Collect into `seen` as events arrive, so a test sees what came before a failure."""
    async with aclosing(stream):
        async for event in stream:
            seen.append(event)  # noqa: PERF401  # kept one by one on purpose


async def test_the_first_key_answers_and_the_choice_sets_the_model() -> None:
    first, second = ScriptedLLM(reply("one")), ScriptedLLM(reply("two"))
    h = Harness({"k1": first, "k2": second})

    result = await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)

    assert result.text == "one"
    assert [r.model for r in first.requests] == ["gpt-test"]
    assert second.requests == []
    assert h.journal == ["decrypt k1", "get k1"]


async def test_a_rejected_key_hands_over_to_the_next_without_waiting() -> None:
    first = ScriptedLLM(ProviderAuthError("openai rejected the API key (HTTP 401)"))
    second = ScriptedLLM(reply("from backup"))
    h = Harness({"k1": first, "k2": second})

    result = await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)

    assert result.text == "from backup"
    assert h.sleeps == []
    # Each key is decrypted right before its own attempt, and only then.
    assert h.journal == ["decrypt k1", "get k1", "decrypt k2", "get k2"]


async def test_every_key_rejected_raises_the_auth_error() -> None:
    h = Harness(
        {"k1": ScriptedLLM(ProviderAuthError("a")), "k2": ScriptedLLM(ProviderAuthError("b"))}
    )

    with pytest.raises(ProviderAuthError, match="b"):
        await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)
    assert h.sleeps == []


async def test_a_rate_limited_key_hands_over_to_the_next() -> None:
    first = ScriptedLLM(ProviderRateLimited("429", retry_after=3))
    h = Harness({"k1": first, "k2": ScriptedLLM(reply("second"))})

    result = await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)

    assert result.text == "second"
    assert h.sleeps == []


async def test_rate_limited_on_every_key_backs_off_and_starts_again_from_the_first() -> None:
    first = ScriptedLLM(ProviderRateLimited("429", retry_after=None), reply("first again"))
    second = ScriptedLLM(ProviderRateLimited("429", retry_after=None))
    h = Harness({"k1": first, "k2": second})

    result = await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)

    assert result.text == "first again"
    assert h.sleeps == [1.0]
    assert (len(first.requests), len(second.requests)) == (2, 1)


async def test_retry_after_is_honoured_when_short() -> None:
    only = ScriptedLLM(ProviderRateLimited("429", retry_after=5), reply())
    h = Harness({"k1": only})

    await h.call.complete(OPENAI, h.keys("k1"), REQUEST)

    assert h.sleeps == [5]


async def test_a_long_retry_after_is_raised_at_once() -> None:
    h = Harness({"k1": ScriptedLLM(ProviderRateLimited("429", retry_after=60))})

    with pytest.raises(ProviderRateLimited) as caught:
        await h.call.complete(OPENAI, h.keys("k1"), REQUEST)
    assert caught.value.retry_after == 60
    assert h.sleeps == []


@pytest.mark.parametrize("error", [ProviderTimeout("t"), ProviderUnavailable("u")])
async def test_transient_failures_are_retried_on_the_same_key(error: ProviderError) -> None:
    first = ScriptedLLM(error, error, reply("third time"))
    second = ScriptedLLM(reply("never"))
    h = Harness({"k1": first, "k2": second})

    result = await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)

    assert result.text == "third time"
    assert second.requests == []
    assert h.sleeps == [1.0, 2.0]  # exponential


async def test_retries_are_bounded_and_the_last_error_raised() -> None:
    only = ScriptedLLM(*[ProviderUnavailable(f"down {n}") for n in range(10)])
    h = Harness({"k1": only}, max_retries=3)

    with pytest.raises(ProviderUnavailable, match="down 3"):
        await h.call.complete(OPENAI, h.keys("k1"), REQUEST)
    assert len(only.requests) == 4
    assert h.sleeps == [1.0, 2.0, 4.0]


async def test_backoff_is_capped_and_jittered() -> None:
    only = ScriptedLLM(*[ProviderTimeout("t")] * 6, reply())
    h = Harness({"k1": only}, max_retries=6)
    h.call = CallModel(
        providers=h.providers,
        secrets=h.secrets,
        policy=RetryPolicy(max_retries=6, base_delay=1.0, max_delay=4.0),
        sleep=h._sleep,
        jitter=lambda: 0.0,
    )

    await h.call.complete(OPENAI, h.keys("k1"), REQUEST)

    # Half of the capped exponential delay with no jitter, never above the cap.
    assert h.sleeps == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


async def test_a_bad_request_is_never_retried_nor_handed_to_another_key() -> None:
    first = ScriptedLLM(ProviderBadRequest("openai refused the request (HTTP 400)"))
    second = ScriptedLLM(reply())
    h = Harness({"k1": first, "k2": second})

    with pytest.raises(ProviderBadRequest):
        await h.call.complete(OPENAI, h.keys("k1", "k2"), REQUEST)
    assert second.requests == []
    assert h.sleeps == []


async def test_an_undecryptable_key_is_skipped() -> None:
    h = Harness({"k2": ScriptedLLM(reply("good"))})
    foreign = FakeSecretBox(["another-server-key"]).encrypt("k1")

    result = await h.call.complete(OPENAI, [foreign, *h.keys("k2")], REQUEST)

    assert result.text == "good"


async def test_only_undecryptable_keys_raise_invalid_input() -> None:
    h = Harness({})
    foreign = FakeSecretBox(["another-server-key"]).encrypt("k1")

    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        await h.call.complete(OPENAI, [foreign], REQUEST)


async def test_no_key_for_a_provider_that_needs_one_is_invalid_input() -> None:
    h = Harness({})

    with pytest.raises(InvalidInput, match="needs an API key"):
        await h.call.complete(ModelChoice(provider="gemini", model="g"), [], REQUEST)


async def test_offline_needs_no_key_and_decrypts_nothing() -> None:
    h = Harness({})
    choice = ModelChoice(provider="offline", model="offline")

    result = await h.call.complete(choice, h.keys("unused"), REQUEST)

    assert result.provider == "offline"
    assert h.journal == ["get None"]


async def test_an_openai_compatible_server_may_be_called_without_key() -> None:
    h = Harness({})
    local = ModelChoice(provider="openai", model="llama3", base_url="http://127.0.0.1:11434/v1")

    await h.call.complete(local, [], REQUEST)

    assert h.providers.gets == [("openai", None, "http://127.0.0.1:11434/v1")]


async def test_an_unknown_provider_is_invalid_input() -> None:
    h = Harness({})

    with pytest.raises(InvalidInput, match="Unknown provider"):
        await h.call.complete(ModelChoice(provider="claude", model="c"), h.keys("k"), REQUEST)


# --- streams ----------------------------------------------------------------------------------


async def test_a_stream_yields_deltas_then_the_completion() -> None:
    done = reply("ab")
    h = Harness({"k1": ScriptedLLM([TextDelta(text="a"), TextDelta(text="b"), done])})

    events = await h.collect(OPENAI, h.keys("k1"))

    assert events == [TextDelta(text="a"), TextDelta(text="b"), done]


async def test_a_stream_failing_before_its_first_event_is_retried_and_falls_back() -> None:
    first = ScriptedLLM(ProviderAuthError("no"))
    second = ScriptedLLM([ProviderTimeout("slow")], [TextDelta(text="x"), reply("x")])
    h = Harness({"k1": first, "k2": second})

    events = await h.collect(OPENAI, h.keys("k1", "k2"))

    assert [type(e) for e in events] == [TextDelta, Completion]
    assert h.sleeps == [1.0]
    assert len(second.requests) == 2


async def test_a_stream_is_not_retried_after_its_first_event() -> None:
    only = ScriptedLLM([TextDelta(text="partial"), ProviderUnavailable("cut")], reply("again"))
    h = Harness({"k1": only})
    seen: list[StreamEvent] = []

    with pytest.raises(ProviderUnavailable, match="cut"):
        await drain(h.call.stream(OPENAI, h.keys("k1"), REQUEST), seen)

    assert seen == [TextDelta(text="partial")]
    assert len(only.requests) == 1
    assert only.pending == 1
    assert h.sleeps == []


async def test_stopping_a_stream_early_closes_the_provider_stream() -> None:
    only = ScriptedLLM([TextDelta(text="a"), TextDelta(text="b"), reply("ab")])
    h = Harness({"k1": only})

    async with aclosing(h.call.stream(OPENAI, h.keys("k1"), REQUEST)) as stream:
        async for _ in stream:
            break

    assert only.streams_closed == 1


async def test_a_stream_bad_request_is_raised_without_retry() -> None:
    only = ScriptedLLM(ProviderBadRequest("bad"), reply())
    h = Harness({"k1": only})

    with pytest.raises(ProviderBadRequest):
        await h.collect(OPENAI, h.keys("k1"))
    assert only.pending == 1
