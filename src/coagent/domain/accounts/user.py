"""The account entity."""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

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
        """Name shown to other people: full name, else username, else the email's local part."""
        return self.full_name or self.username or self.email.split("@", 1)[0]

    @property
    def public_name(self) -> str | None:
        """Name shown to people who may not see email addresses."""
        return self.full_name or self.username

    def with_changes(self, **changes: object) -> "User":
        return replace(self, **changes)  # type: ignore[arg-type]
