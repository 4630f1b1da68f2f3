"""Factories for domain entities (polyfactory), with every field pinned to a sane default."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from polyfactory import PostGenerated, Use
from polyfactory.factories import DataclassFactory

from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User

DEFAULT_PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _username(_: str, values: dict[str, Any]) -> str:
    return str(values["email"]).split("@", 1)[0].lower()


class UserFactory(DataclassFactory[User]):
    """`UserFactory.build(role=Role.ADMIN)`: an active account whose password is
    `DEFAULT_PASSWORD` under `FakePasswordHasher`; the username follows the email, and
    `created_at` increases with each build (so "oldest first" is build order).
    """

    __check_model__ = True

    id = Use(uuid4)
    email = Use(lambda: f"user{next(_serial)}@example.com")
    username = PostGenerated(_username)
    full_name = None
    role = Role.STUDENT
    is_active = True
    password_hash = f"plain:{DEFAULT_PASSWORD}"
    avatar_url = None
    created_at = Use(lambda: _EPOCH + timedelta(seconds=next(_serial)))
    updated_at = PostGenerated(lambda _, values: values["created_at"])
