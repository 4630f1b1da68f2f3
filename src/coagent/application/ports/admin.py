"""Read-only access to the stored tables, for the administrators' database viewer."""

from datetime import datetime
from typing import Protocol


class DatabaseBrowser(Protocol):
    """Implementations never return secret columns (password hashes, token ids, keys, raw
    file bytes), and never put a client-supplied name into SQL: a table is looked up among
    the known ones.
    """

    async def tables(self) -> list[str]:
        """Names of the tables that may be browsed, sorted."""
        ...

    async def rows(
        self,
        table: str,
        *,
        limit: int,
        offset: int,
        search: str | None,
        start: datetime | None,
        end: datetime | None,
        resolve_relations: bool,
    ) -> list[dict[str, object]]:
        """Rows newest first, as JSON-safe values; raises `NotFound` for an unknown table.

        `search` matches text and id columns case-insensitively (literally: no wildcards);
        `start` and `end` bound `created_at` (inclusive); `resolve_relations` adds readable
        names (e.g. `user_email`, `course_title`) for the rows' foreign keys.
        """
        ...
