"""Builds a context's services dataclass from the use-case types it lists.

The list of a context's use cases is written once, as the fields of its services dataclass
(`adapters/http/<context>/services.py`, which the controllers read). Its composition module
offers the ports and values those use cases take, by the keyword their constructors name
(`uow`, `clock`, `ids`, `events`, ...), and `assemble` builds each field's use case from them.
Every mismatch is an error when the process builds the services, never a silent default: a
use case naming a required keyword the context does not offer, a constructor taking
positional arguments, or an offered port that no use case takes.
"""

import dataclasses
import inspect
from collections.abc import Mapping
from typing import TypeVar, get_type_hints

S = TypeVar("S")


def assemble(services: type[S], ports: Mapping[str, object], /, **given: object) -> S:
    """`services` with each field not in `given` (and without a default) built from `ports`.

    A field's type is its use case's class; it is called with the keywords of its constructor
    that `ports` offers (a keyword with a default may be left out; one without may not).
    `given` holds the fields that are not use cases built here (a hub, limits, a setting).
    """
    if not dataclasses.is_dataclass(services):
        raise TypeError(f"{services.__name__} is not a dataclass")
    hints = get_type_hints(services)
    values: dict[str, object] = dict(given)
    used: set[str] = set()
    for field in dataclasses.fields(services):
        if field.name in given or not field.init:
            continue
        if field.default is not dataclasses.MISSING:
            continue
        use_case = hints[field.name]
        kwargs: dict[str, object] = {}
        for name, parameter in inspect.signature(use_case).parameters.items():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(
                    f"{services.__name__}.{field.name}: {use_case.__name__} takes {name!r} "
                    "other than by keyword"
                )
            if name in ports:
                kwargs[name] = ports[name]
                used.add(name)
            elif parameter.default is inspect.Parameter.empty:
                raise TypeError(
                    f"{services.__name__}.{field.name}: {use_case.__name__} takes {name!r}, "
                    "which its context does not offer"
                )
        values[field.name] = use_case(**kwargs)
    unused = sorted(ports.keys() - used)
    if unused:
        raise TypeError(f"{services.__name__}: no use case takes {', '.join(unused)}")
    return services(**values)
