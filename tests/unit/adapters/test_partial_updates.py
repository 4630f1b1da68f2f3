"""The one partial-update convention: msgspec UNSET at the HTTP edge is the use cases' KEEP."""

import msgspec
import pytest

from coagent.adapters.http.bodies import unset_keeps
from coagent.application.partial import KEEP, kept


@pytest.mark.parametrize("value", [None, "", "text", 0, False, ["a"]])
def test_a_sent_value_goes_through_as_sent(value: object) -> None:
    assert unset_keeps(value) == value
    assert unset_keeps(value) is not KEEP


def test_an_unsent_field_keeps() -> None:
    assert unset_keeps(msgspec.UNSET) is KEEP


def test_the_converter_sees_only_sent_values() -> None:
    seen: list[object] = []

    def convert(value: str | None) -> str:
        seen.append(value)
        return f"<{value}>"

    assert unset_keeps(msgspec.UNSET, convert) is KEEP
    assert unset_keeps(None, convert) == "<None>"
    assert unset_keeps("x", convert) == "<x>"
    assert seen == [None, "x"]


@pytest.mark.parametrize(
    ("value", "current", "result"),
    [(KEEP, "old", "old"), ("new", "old", "new"), (None, "old", None), ("", "old", "")],
)
def test_kept_replaces_unless_keep(value: object, current: object, result: object) -> None:
    assert kept(value, current) == result
