"""How a person's name is shown: one rule, decided in the domain (coagent.domain.accounts.names)."""

import pytest

from coagent.domain.accounts.names import (
    UNKNOWN_PERSON,
    display_name,
    email_local_part,
    public_name,
)
from coagent.domain.chat.message import sender_display_name
from tests.fakes.factories import UserFactory

# (full_name, username, email) -> (display_name, public_name)
NAMES = [
    (("Ada Lovelace", "ada", "ada@example.org"), ("Ada Lovelace", "Ada Lovelace")),
    ((None, "ada", "ada.l@example.org"), ("ada", "ada")),
    ((None, None, "ada.l@example.org"), ("ada.l", None)),
    (("", "", "ada.l@example.org"), ("ada.l", None)),  # blank counts as missing
    (("", "ada", "x@example.org"), ("ada", "ada")),
    ((None, None, "odd@sub@example.org"), ("odd", None)),  # up to the first "@"
    ((None, None, "no-at-sign"), ("no-at-sign", None)),
    ((None, None, None), (UNKNOWN_PERSON, None)),  # the account is gone
    (("Ada", None, None), (UNKNOWN_PERSON, "Ada")),
]


@pytest.mark.parametrize(("parts", "names"), NAMES)
def test_display_and_public_name(
    parts: tuple[str | None, str | None, str | None], names: tuple[str, str | None]
) -> None:
    full_name, username, email = parts
    assert (display_name(full_name, username, email), public_name(full_name, username)) == names


def test_never_the_whole_address() -> None:
    for (_, _, email), (shown, public) in NAMES:
        if email is not None and "@" in email:
            assert email not in shown
            assert public is None or "@" not in public


def test_local_part() -> None:
    assert email_local_part("a.b@c@d") == "a.b"
    assert email_local_part("plain") == "plain"


def test_the_user_entity_uses_the_same_rule() -> None:
    for (full_name, username, email), (shown, public) in NAMES:
        if email is None:
            continue
        user = UserFactory.build(full_name=full_name, username=username, email=email)
        assert (user.display_name, user.public_name) == (shown, public)


def test_a_message_sender() -> None:
    assert sender_display_name("teacher", "Ada", "ada", "ada@x.org") == "Teacher AI"
    assert sender_display_name(None, None, None, "ada.l@x.org") == "ada.l"
    assert sender_display_name(None, None, None, None) == UNKNOWN_PERSON
