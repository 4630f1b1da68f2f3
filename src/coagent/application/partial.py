"""The one partial-update convention of the use cases.

An update command's field set to `KEEP` (its default) leaves the stored value as it is; any
other value replaces it. Where a field may be cleared, its type admits None and None clears it
(some fields also treat "" as a clear: the use case's docstring says so). The HTTP edge maps a
field the client did not send (`msgspec.UNSET`) to `KEEP` in one place
(`coagent.adapters.http.bodies.unset_keeps`); no use case sees msgspec.
"""

from enum import Enum
from typing import Final, TypeVar

T = TypeVar("T")


class Keep(Enum):
    KEEP = "keep"


KEEP: Final = Keep.KEEP


def kept(value: T | Keep, current: T) -> T:
    """`value`, or `current` when the command keeps the field."""
    return current if isinstance(value, Keep) else value
