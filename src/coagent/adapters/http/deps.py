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


def services_of(kind: type[Any]) -> Provide:
    """A dependency on the services of type `kind` that the composition root registered."""

    def provide(state: State) -> Any:
        registry: ServiceRegistry = state.services
        return registry.get(kind)

    provide.__name__ = f"provide_{kind.__name__}"
    return Provide(provide, sync_to_thread=False)


Config = NamedDependency[HttpConfig]
Authenticator = NamedDependency[Authenticate]
# The authenticated caller (401 when there is none) ...
Current = NamedDependency[Principal]
# ... or None, for the few endpoints that work either way.
MaybePrincipal = NamedDependency[Principal | None]
