"""The database's word on revoked sessions, for when the fast revocation list cannot answer
(Redis down) or has lost its contents (Redis restarted): docs/adr/0007.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

# A revocation rebuilt from the record is kept until `revoked_at` + the access TTL + this: a
# token signed by a refresh that raced the revocation may outlive `revoked_at` by a moment.
REBUILD_SLACK = timedelta(seconds=60)


class RevocationRecord(Protocol):
    async def is_revoked(self, session_id: UUID) -> bool:
        """True when the session was revoked, or no longer exists (purged, or its account
        deleted): a token of a session the record does not know is never honoured.
        """
        ...

    async def revoked_since(self, since: datetime) -> Sequence[tuple[UUID, datetime]]:
        """(session id, revoked at) of every session revoked at or after `since`."""
        ...
