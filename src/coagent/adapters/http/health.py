"""Liveness and readiness."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from coagent.adapters.http.deps import services_of

logger = logging.getLogger("coagent.http")


@dataclass(frozen=True, slots=True)
class Readiness:
    """Readiness probes: name -> check raising on failure."""

    probes: Mapping[str, Callable[[], Awaitable[None]]]


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str] | None = None


@get("/health", operation_id="health", tags=["health"], description="The process is up.")
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    operation_id="ready",
    tags=["health"],
    description="The database (and Redis, when configured) answer.",
    responses={503: ResponseSpec(data_container=Health, description="Not ready")},
    dependencies={"readiness": services_of(Readiness, signed_in=False)},
)
async def ready(readiness: NamedDependency[Readiness]) -> Response[Health]:
    checks: dict[str, str] = {}
    for name, probe in readiness.probes.items():
        try:
            await asyncio.wait_for(probe(), timeout=3)
            checks[name] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            logger.warning(
                "readiness check failed", extra={"check": name, "error": type(error).__name__}
            )
            checks[name] = "unavailable"
    ok = all(value == "ok" for value in checks.values())
    return Response(
        Health(status="ok" if ok else "unavailable", checks=checks),
        status_code=200 if ok else 503,
    )
