import pytest

from coagent.domain.accounts.credentials import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    check_password,
    normalize_email,
    normalize_login,
    normalize_username,
)
from coagent.domain.errors import InvalidInput


def test_password_bounds_are_generous() -> None:
    # The product asks for no cap below 64 characters; passphrases are welcome.
    assert PASSWORD_MIN_LENGTH == 8
    assert PASSWORD_MAX_LENGTH == 1024


@pytest.mark.parametrize(
    "password",
    ["x" * 8, "x" * 1024, "correct horse battery staple", " spaced ", "pässwörd🔑"],
    ids=["min", "max", "passphrase", "spaces-around", "unicode"],
)
def test_accepted_passwords_are_returned_unchanged(password: str) -> None:
    assert check_password(password) == password


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 8"),
        ("x" * 7, "at least 8"),
        ("x" * 1025, "at most 1024"),
        (" " * 8, "blank"),
        ("\t\n \r\n\t  ", "blank"),
    ],
    ids=["empty", "too-short", "too-long", "spaces", "whitespace"],
)
def test_rejected_passwords(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_password(password)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \n", "alice@example.com"),
        ("admin@localhost", "admin@localhost"),
        ("a+tag@sub.example.org", "a+tag@sub.example.org"),
        ("x" * 64 + "@example.com", "x" * 64 + "@example.com"),
    ],
    ids=["plain", "spaces-and-case", "no-dot", "plus-tag", "longest-local-part"],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert normalize_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "alice",
        "@example.com",
        "alice@",
        "a@b@c",
        "al ice@example.com",
        "alice@exa mple.com",
        "x" * 65 + "@example.com",
        "alice@" + "x" * 256,
    ],
)
def test_invalid_emails_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput, match="Email"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("bob", "bob"),
        ("  Bob.Smith_2-x ", "bob.smith_2-x"),
        ("ab", "ab"),
        ("9lives", "9lives"),
        ("a" * 63, "a" * 63),
    ],
    ids=["plain", "mixed", "shortest", "leading-digit", "longest"],
)
def test_usernames_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert normalize_username(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    ["", "a", "a" * 64, "-bob", ".bob", "_bob", "bo b", "bob@example", "bøb", "bob!", "bob\x00"],
)
def test_invalid_usernames_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput, match="Username"):
        normalize_username(raw)


@pytest.mark.parametrize(
    ("raw", "key"),
    [(" Alice@Example.com ", "alice@example.com"), ("BOB", "bob"), ("  ", "")],
)
def test_login_identifier_is_trimmed_and_lower_cased_without_validation(raw: str, key: str) -> None:
    assert normalize_login(raw) == key
