"""assemble: a context's services built from the use-case types its dataclass lists."""

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest
from litestar.handlers import HTTPRouteHandler

from coagent.main.app import create_app
from coagent.main.compose.wiring import assemble
from coagent.main.container import build_container
from coagent.main.settings import load_settings


class Read:
    def __init__(self, *, uow: str) -> None:
        self.uow = uow


class Write:
    def __init__(self, *, uow: str, clock: str, limit: int = 7) -> None:
        self.uow, self.clock, self.limit = uow, clock, limit


class Positional:
    def __init__(self, uow: str) -> None:
        self.uow = uow


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    read: Read
    write: Write
    label: str
    wait_seconds: float = 30.0


def test_each_field_is_built_from_the_ports_its_constructor_names() -> None:
    services = assemble(Services, {"uow": "u", "clock": "c"}, label="given")

    assert (services.read.uow, services.write.uow, services.write.clock) == ("u", "u", "c")
    assert services.write.limit == 7  # a keyword with a default the context does not offer
    assert services.label == "given"
    assert services.wait_seconds == 30.0


def test_an_offered_keyword_with_a_default_is_passed() -> None:
    services = assemble(Services, {"uow": "u", "clock": "c", "limit": 3}, label="x")

    assert services.write.limit == 3


def test_a_given_field_with_a_default_replaces_it() -> None:
    services = assemble(Services, {"uow": "u", "clock": "c"}, label="x", wait_seconds=1.5)

    assert services.wait_seconds == 1.5


def test_a_required_keyword_the_context_does_not_offer_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^Services\.write: Write takes 'clock', which its"):
        assemble(Services, {"uow": "u"}, label="x")


def test_a_port_no_use_case_takes_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^Services: no use case takes hasher, ids$"):
        assemble(Services, {"uow": "u", "clock": "c", "ids": 1, "hasher": 2}, label="x")


def test_a_positional_constructor_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Odd:
        item: Positional

    with pytest.raises(TypeError, match=r"^Odd\.item: Positional takes 'uow' other than by"):
        assemble(Odd, {"uow": "u"})


def test_a_class_that_is_not_a_dataclass_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^Read is not a dataclass$"):
        assemble(Read, {"uow": "u"})


def test_every_context_assembles_its_services_from_the_container(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 40})
    container = build_container(settings)  # builds no connection

    every = [s for s in container.http_services() if dataclasses.is_dataclass(s)]

    built = 0
    for services in every:
        for field, kind in typing.get_type_hints(type(services)).items():
            if getattr(kind, "__module__", "").startswith("coagent.application."):
                assert isinstance(getattr(services, field), kind), (services, field)
                built += 1
    assert len(every) >= 10
    assert built >= 60


def test_a_signed_in_handler_resolves_its_dependencies_one_after_another(
    tmp_path: Path,
) -> None:
    """Every handler that takes `current` gets its services after it (a chain, not an anyio
    task group per request: issue 20), and no public handler is made to authenticate."""
    settings = load_settings({"DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 40})
    app = create_app(settings)
    chained = public = 0
    unchained: set[str] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            parameters = handler.parsed_fn_signature.parameters
            for name, provide in handler.resolve_dependencies().items():
                provider = getattr(provide.dependency, "__name__", "")
                if (
                    name not in parameters
                    or not provider.startswith("provide_")
                    or ("Services" not in provider and "Readiness" not in provider)
                ):
                    continue
                after_current = "current" in inspect.signature(provide.dependency).parameters
                if after_current:  # a public handler must not be made to authenticate
                    assert "current" in parameters, (handler, name)
                elif "current" in parameters:  # only where the controller has public handlers
                    unchained.add(handler.fn.__qualname__.split(".")[0])
                chained += after_current
                public += "current" not in parameters
    assert chained >= 55
    assert public >= 4  # login's public handlers and readiness
    assert unchained == {"LoginController"}
