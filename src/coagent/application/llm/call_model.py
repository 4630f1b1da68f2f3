"""CallModel: every agent's provider call, with key fallback and bounded retries."""

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace

from coagent.application.ports.llm import (
    Completion,
    LLMProvider,
    LLMProviders,
    LLMRequest,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEvent,
)
from coagent.application.ports.security import SecretBox
from coagent.domain.errors import InvalidInput

logger = logging.getLogger("coagent.llm")

Sleep = Callable[[float], Awaitable[None]]
_KeyFailure = ProviderError | InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelChoice:
    """Which provider, model and endpoint to call (`base_url` for OpenAI-compatible servers)."""

    provider: str
    model: str
    base_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Transient failures are retried `max_retries` times after the first attempt, waiting
    `base_delay * 2**n` (capped at `max_delay`) with jitter. A provider asking to wait longer
    than `max_delay` gets its error raised at once: a caller is waiting.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0


class CallModel:
    """Calls a provider with the first working key of an ordered list of ciphertexts.

    A key that is rejected is dropped for this call; a rate-limited one hands over to the next
    key. Timeouts, unavailability and rate limits on every key are retried with backoff; a bad
    request never is. A stream is retried only before its first event reached the caller.
    Keys are decrypted right before each attempt and live only in that frame (and in the
    pooled client the registry keeps). Failures raise a `ProviderError`, never become text.
    """

    def __init__(
        self,
        *,
        providers: LLMProviders,
        secrets: SecretBox,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._providers = providers
        self._secrets = secrets
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter

    async def complete(
        self, choice: ModelChoice, keys: Sequence[str], request: LLMRequest
    ) -> Completion:
        """`request.model` is replaced by `choice.model`."""
        request = replace(request, model=choice.model)
        attempts = self._attempts(choice, keys)
        while True:
            try:
                return await attempts.provider().complete(request)
            except ProviderError as error:
                await attempts.recover(error)

    async def stream(
        self, choice: ModelChoice, keys: Sequence[str], request: LLMRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Deltas, then one `Completion`. Close it (`aclosing`) when stopping early."""
        request = replace(request, model=choice.model)
        attempts = self._attempts(choice, keys)
        while True:
            started = False
            try:
                async with aclosing(attempts.provider().stream(request)) as events:
                    async for event in events:
                        started = True
                        yield event
            except ProviderError as error:
                if started:
                    raise
                await attempts.recover(error)
            else:
                return

    def _attempts(self, choice: ModelChoice, keys: Sequence[str]) -> "_Attempts":
        uses_keys = self._providers.uses_keys(choice.provider)
        return _Attempts(
            choice=choice,
            ciphertexts=list(keys) if uses_keys and keys else [None],
            providers=self._providers,
            secrets=self._secrets,
            policy=self._policy,
            sleep=self._sleep,
            jitter=self._jitter,
        )


class _Attempts:
    """The state of one call: which keys are left, which one is next, retries spent."""

    def __init__(
        self,
        *,
        choice: ModelChoice,
        ciphertexts: list[str | None],
        providers: LLMProviders,
        secrets: SecretBox,
        policy: RetryPolicy,
        sleep: Sleep,
        jitter: Callable[[], float],
    ) -> None:
        self._choice = choice
        self._keys = ciphertexts
        self._providers = providers
        self._secrets = secrets
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._pos = 0
        self._limited = 0  # keys that answered 429 since the last backoff
        self._retries = 0

    def provider(self) -> LLMProvider:
        while True:
            ciphertext = self._keys[self._pos]
            api_key: str | None = None
            if ciphertext is not None:
                try:
                    api_key = self._secrets.decrypt(ciphertext)
                except InvalidInput as error:
                    self._log("key cannot be decrypted", error)
                    self._drop(error)
                    continue
            return self._providers.get(
                provider=self._choice.provider, api_key=api_key, base_url=self._choice.base_url
            )

    async def recover(self, error: ProviderError) -> None:
        """Prepare the next attempt after `error`, or raise it when none is left."""
        if isinstance(error, ProviderAuthError):
            self._log("key rejected", error)
            self._drop(error)
            return
        if isinstance(error, ProviderRateLimited) and self._limited + 1 < len(self._keys):
            self._log("key rate limited", error)
            self._limited += 1
            self._pos = (self._pos + 1) % len(self._keys)
            return
        if not isinstance(error, ProviderRateLimited | ProviderTimeout | ProviderUnavailable):
            raise error  # a bad request, or anything we do not know to be transient
        delay = self._delay(error)
        if self._retries >= self._policy.max_retries or delay is None:
            raise error
        self._log("transient failure, retrying", error, delay=delay)
        await self._sleep(delay)
        self._retries += 1
        self._limited = 0
        self._pos = 0  # back to the preferred key

    def _delay(self, error: ProviderError) -> float | None:
        policy = self._policy
        backoff = min(policy.max_delay, policy.base_delay * 2.0**self._retries)
        delay = backoff / 2 + backoff / 2 * self._jitter()
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            if error.retry_after > policy.max_delay:
                return None
            delay = max(delay, error.retry_after)
        return delay

    def _drop(self, error: _KeyFailure) -> None:
        del self._keys[self._pos]
        if not self._keys:
            raise error
        self._pos %= len(self._keys)

    def _log(self, message: str, error: Exception, *, delay: float | None = None) -> None:
        # Position and error class only: never the key, never the provider's text.
        logger.warning(
            "llm call: %s",
            message,
            extra={
                "provider": self._choice.provider,
                "model": self._choice.model,
                "key_position": self._pos,
                "error": type(error).__name__,
                "retry_in": delay,
            },
        )
