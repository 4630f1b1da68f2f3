"""Clock and id generator."""

from datetime import UTC, datetime
from uuid import UUID

import uuid_utils


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Generator:
    def new_id(self) -> UUID:
        return UUID(bytes=uuid_utils.uuid7().bytes)
