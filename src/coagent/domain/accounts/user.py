"""The account entity."""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from coagent.domain.accounts import names
from coagent.domain.accounts.roles import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: UUID
    email: str
    username: str | None
    full_name: str | None
    role: Role
    is_active: bool
    password_hash: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        """Name shown to other people (`names.display_name`)."""
        return names.display_name(self.full_name, self.username, self.email)

    @property
    def public_name(self) -> str | None:
        """Name shown where no part of an email address may appear (`names.public_name`)."""
        return names.public_name(self.full_name, self.username)

    def with_changes(self, **changes: object) -> "User":
        return replace(self, **changes)  # type: ignore[arg-type]
