"""Names handlers use to ask for what the app provides (explicit, as Litestar 3 requires),
and the one mechanism by which a controller declares its own context's services.

The composition root hands `build_app` one services object per context (`AccountServices`,
`CourseServices`, ...); each controller lists only the ones it calls:

    class RoomsController(Controller):
        dependencies = {"rooms": services_of(RoomServices)}

and its handlers take `rooms: NamedDependency[RoomServices]`.
"""

from collections.abc import Iterable
from typing import Any, TypeVar

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from coagent.adapters.http.config import HttpConfig
from coagent.application.accounts.authenticate import Authenticate, Principal
from coagent.domain.errors import Unavailable

S = TypeVar("S")

Config = NamedDependency[HttpConfig]
Authenticator = NamedDependency[Authenticate]
# The authenticated caller (401 when there is none) ...
Current = NamedDependency[Principal]
# ... or None, for the few endpoints that work either way.
MaybePrincipal = NamedDependency[Principal | None]


class ServiceRegistry:
    """The services objects of every context this app serves, one per type."""

    def __init__(self, services: Iterable[object]) -> None:
        self._by_type: dict[type, object] = {}
        for service in services:
            kind = type(service)
            if kind in self._by_type:
                raise ValueError(f"two services of type {kind.__name__}")
            self._by_type[kind] = service

    def get(self, kind: type[S]) -> S:
        service = self._by_type.get(kind)
        if not isinstance(service, kind):  # pragma: no cover - the composition root lists all
            raise Unavailable(f"{kind.__name__} is not available", retry_after=5)
        return service


def services_of(kind: type[Any], *, signed_in: bool = True) -> Provide:
    """A dependency on the services of type `kind` that the composition root registered.

    `signed_in` (the default) is for a controller whose every handler takes `current`: the
    services are then provided after the caller is authenticated, one after the other.
    Litestar resolves a handler's independent dependencies concurrently, in an anyio task
    group, which costs about 50 us a request (bench: docs/benchmarks.md, issue 20), more than
    both dependencies together; chained, it resolves them in turn. Controllers with public
    handlers (login, avatars, readiness, the chat socket's own handshake) pass False.
    """
    if signed_in:
        # `current` is never read here: asking for it puts the services after it.
        def provide_signed_in(state: State, current: Current) -> Any:
            registry: ServiceRegistry = state.services
            return registry.get(kind)

        provider: Any = provide_signed_in
    else:

        def provide(state: State) -> Any:
            registry: ServiceRegistry = state.services
            return registry.get(kind)

        provider = provide
    provider.__name__ = f"provide_{kind.__name__}"
    return Provide(provider, sync_to_thread=False)
