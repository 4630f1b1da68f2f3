"""Helpers the provider adapters share: tool-argument parsing, Retry-After, error text."""

import json
import re
from collections.abc import Mapping
from typing import Any

from coagent.application.ports.llm import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

# What a body of the wrong shape raises while an SDK reads it (an HTML page where JSON was
# expected, a list where an object was): a `ProviderBadResponse`, never a 500.
MALFORMED = (AttributeError, TypeError, KeyError, IndexError, ValueError)

_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def parse_arguments(provider: str, raw: str | None) -> Mapping[str, Any]:
    """Tool-call arguments as a JSON object; a model emitting anything else is a provider
    glitch (transient), never a tool call with made-up arguments.
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"{provider}: the model returned malformed tool-call arguments")
    return value


def parse_seconds(value: str | None) -> float | None:
    """'12', '1.5' or '30s' (Google's RetryInfo) as seconds; anything else (an HTTP date) None."""
    if value is None:
        return None
    match = _SECONDS.match(value)
    return float(match.group(1)) if match else None


def error_for_status(provider: str, status: int, retry_after: float | None) -> ProviderError:
    """The typed error for an HTTP status. The detail names the provider and status only:
    provider bodies may echo (part of) the key or the prompt.
    """
    if status in {401, 403}:
        return ProviderAuthError(f"{provider} rejected the API key (HTTP {status})")
    if status == 429:
        return ProviderRateLimited(
            f"{provider} rate limit or quota exceeded (HTTP 429)", retry_after=retry_after
        )
    if status in {408, 504}:
        return ProviderTimeout(f"{provider} timed out (HTTP {status})")
    if status >= 500:
        return ProviderUnavailable(f"{provider} is unavailable (HTTP {status})")
    return ProviderBadRequest(f"{provider} refused the request (HTTP {status})")


def bad_response(
    provider: str, what: str = "a body that is not a valid API response"
) -> ProviderBadResponse:
    """The detail names the provider only: the body may be anything (and echo the key)."""
    return ProviderBadResponse(f"{provider} answered with {what}; check its base_url")
