"""A database browser over fixed rows, recording how it was called."""

from datetime import datetime
from typing import Any

import anyio.lowlevel

from coagent.domain.errors import NotFound


class FakeDatabaseBrowser:
    def __init__(self, tables: dict[str, list[dict[str, object]]] | None = None) -> None:
        self.data = tables if tables is not None else {}
        self.calls: list[dict[str, Any]] = []

    async def tables(self) -> list[str]:
        await anyio.lowlevel.checkpoint()
        return sorted(self.data)

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
        await anyio.lowlevel.checkpoint()
        self.calls.append(
            {
                "table": table,
                "limit": limit,
                "offset": offset,
                "search": search,
                "start": start,
                "end": end,
                "resolve_relations": resolve_relations,
            }
        )
        if table not in self.data:
            raise NotFound("Table not found")
        return self.data[table][offset : offset + limit]
