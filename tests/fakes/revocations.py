"""An in-memory RevocationRecord that counts how often it is asked."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID


class FakeRevocationRecord:
    def __init__(self) -> None:
        self.live: set[UUID] = set()
        self.revoked: dict[UUID, datetime] = {}
        self.lookups = 0
        self.rebuilds = 0

    async def is_revoked(self, session_id: UUID) -> bool:
        self.lookups += 1
        return session_id not in self.live or session_id in self.revoked

    async def revoked_since(self, since: datetime) -> Sequence[tuple[UUID, datetime]]:
        self.rebuilds += 1
        return [(sid, at) for sid, at in self.revoked.items() if at >= since]
