"""Unit tests: no I/O, fakes for every port, anyio on asyncio."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
