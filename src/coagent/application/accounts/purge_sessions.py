"""PurgeExpiredSessions: housekeeping run by the worker."""

from dataclasses import dataclass
from datetime import timedelta

from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeExpiredSessionsCommand:
    # Keep ended sessions a while so a reused refresh token still meets its revoked family.
    grace: timedelta = timedelta(days=1)


class PurgeExpiredSessions:
    """The worker. Idempotent: running it twice deletes nothing more."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: PurgeExpiredSessionsCommand) -> int:
        async with self._uow() as uow:
            count = await uow.sessions.purge(expired_before=self._clock.now() - command.grace)
            await uow.commit()
        return count
