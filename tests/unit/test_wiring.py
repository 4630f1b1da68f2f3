"""assemble: a context's services built from the use-case types its dataclass lists."""

import dataclasses
import typing
from pathlib import Path

import pytest

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
