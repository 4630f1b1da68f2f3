"""Provider failures leave as 502/503/504 problems, with Retry-After when the provider said."""

from typing import Any

import pytest

from coagent.adapters.http.problems import handle_domain_error
from coagent.application.ports.llm import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

NO_REQUEST: Any = None  # the handler never reads the request


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProviderAuthError("openai rejected the API key (HTTP 401)"), 502),
        (ProviderBadRequest("openai refused the request (HTTP 400)"), 502),
        (ProviderUnavailable("openai is unavailable (HTTP 503)"), 503),
        (ProviderRateLimited("openai rate limit", retry_after=None), 503),
        (ProviderTimeout("openai timed out"), 504),
    ],
)
def test_provider_errors_map_to_gateway_statuses(error: ProviderError, status: int) -> None:
    response = handle_domain_error(NO_REQUEST, error)

    assert response.status_code == status
    assert response.content.detail == error.detail
    assert "retry-after" not in {k.lower() for k in response.headers}


def test_a_known_retry_after_is_sent_rounded_up_to_whole_seconds() -> None:
    response = handle_domain_error(NO_REQUEST, ProviderRateLimited("limited", retry_after=1.2))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
