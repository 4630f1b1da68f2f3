"""Rules for identifiers and passwords."""

import re

from coagent.domain.errors import InvalidInput

PASSWORD_MIN_LENGTH = 8
# Long passphrases are welcome; the cap only bounds hashing work (argon2 accepts any length).
PASSWORD_MAX_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(f"Password must have at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"Password must have at most {PASSWORD_MAX_LENGTH} characters")
    if not password.strip():
        raise InvalidInput("Password must not be blank")
    return password


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL_PATTERN.fullmatch(value):
        raise InvalidInput("Email address is not valid")
    return value


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive: stored lower-case, 2-63 of `a-z 0-9 . _ -`."""
    value = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(value):
        raise InvalidInput(
            "Username must be 2-63 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def normalize_login(identifier: str) -> str:
    """The key a login is looked up and throttled by: email or username, lower-case."""
    return identifier.strip().lower()
